"""Browser UI URLs of the traces app."""

from django.urls import path

from traces.views import (
    account,
    auto_labels,
    compare,
    dashboards,
    evaluation,
    exports,
    labeling,
    projects,
    queues,
    runs,
    traces,
)

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("account/token/", account.api_token, name="api-token"),
    path("p/<slug:slug>/traces/", traces.trace_list, name="trace-list"),
    path("p/<slug:slug>/traces/<int:pk>/", traces.trace_detail, name="trace-detail"),
    path("p/<slug:slug>/traces/<int:pk>/label/", labeling.label_trace, name="trace-label"),
    path("p/<slug:slug>/traces/<int:pk>/label/steps/", labeling.label_step, name="trace-label-step"),
    path("p/<slug:slug>/traces/<int:pk>/label/undo/", labeling.undo_label, name="trace-label-undo"),
    path("p/<slug:slug>/traces/<int:pk>/label/verdicts/", labeling.save_trace_verdicts, name="trace-label-verdicts"),
    path("p/<slug:slug>/traces/<int:pk>/label/next/", labeling.next_to_label, name="trace-label-next"),
    path("p/<slug:slug>/compare/", compare.compare_traces, name="trace-compare"),
    path("p/<slug:slug>/compare/preference/", compare.save_preference, name="trace-compare-preference"),
    path("p/<slug:slug>/auto-labels/", auto_labels.auto_label_form, name="auto-label-form"),
    path("p/<slug:slug>/exports/new/", exports.export_form, name="export-form"),
    path("p/<slug:slug>/exports/<int:pk>/", exports.export_job, name="export-job"),
    path("p/<slug:slug>/exports/<int:pk>/files/<str:name>/", exports.export_job_file, name="export-job-file"),
    path("p/<slug:slug>/evaluate/", evaluation.label_evaluation, name="label-evaluation"),
    path("p/<slug:slug>/queues/", queues.queue_list, name="queue-list"),
    path("p/<slug:slug>/queues/new/", queues.queue_new, name="queue-new"),
    path("p/<slug:slug>/queues/<int:pk>/", queues.queue_detail, name="queue-detail"),
    path("p/<slug:slug>/queues/<int:pk>/next/", queues.queue_next, name="queue-next"),
    path("p/<slug:slug>/queues/<int:pk>/open/", queues.queue_set_open, name="queue-open"),
    path(
        "p/<slug:slug>/queues/<int:pk>/items/<int:item_pk>/submit/", queues.queue_item_submit, name="queue-item-submit"
    ),
    path("p/<slug:slug>/queues/<int:pk>/items/<int:item_pk>/skip/", queues.queue_item_skip, name="queue-item-skip"),
    path("p/<slug:slug>/queues/<int:pk>/agreement/", queues.queue_agreement_page, name="queue-agreement"),
    path("p/<slug:slug>/queues/<int:pk>/adjudicate/", queues.queue_adjudication, name="queue-adjudication"),
    path(
        "p/<slug:slug>/queues/<int:pk>/adjudicate/<int:trace_pk>/",
        queues.adjudicate_trace,
        name="queue-adjudicate-trace",
    ),
    path("p/<slug:slug>/dashboards/<str:kind>/", dashboards.dashboard_page, name="dashboard"),
    path("p/<slug:slug>/dashboards/<str:kind>/data.json", dashboards.dashboard_data, name="dashboard-data"),
    path("p/<slug:slug>/dashboards/<str:kind>/data.csv", dashboards.dashboard_csv, name="dashboard-csv"),
    path("p/<slug:slug>/runs/", runs.run_list, name="job-list"),
    path("p/<slug:slug>/runs/new/", runs.run_form, name="job-new"),
    path("p/<slug:slug>/runs/<int:pk>/", runs.run_detail, name="job-detail"),
    path("p/<slug:slug>/runs/<int:pk>/cancel/", runs.run_cancel, name="job-cancel"),
    path("p/<slug:slug>/runs/<int:pk>/resume/", runs.run_resume, name="job-resume"),
]
