"""Browser UI URLs of the traces app."""

from django.urls import path

from traces.views import evaluation, exports, labeling, projects, runs, traces

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("p/<slug:slug>/traces/", traces.trace_list, name="trace-list"),
    path("p/<slug:slug>/traces/<int:pk>/", traces.trace_detail, name="trace-detail"),
    path("p/<slug:slug>/traces/<int:pk>/label/", labeling.label_trace, name="trace-label"),
    path("p/<slug:slug>/traces/<int:pk>/label/steps/", labeling.label_step, name="trace-label-step"),
    path("p/<slug:slug>/traces/<int:pk>/label/undo/", labeling.undo_label, name="trace-label-undo"),
    path("p/<slug:slug>/traces/<int:pk>/label/verdicts/", labeling.save_trace_verdicts, name="trace-label-verdicts"),
    path("p/<slug:slug>/traces/<int:pk>/label/next/", labeling.next_to_label, name="trace-label-next"),
    path("p/<slug:slug>/exports/new/", exports.export_form, name="export-form"),
    path("p/<slug:slug>/exports/<int:pk>/", exports.export_job, name="export-job"),
    path("p/<slug:slug>/exports/<int:pk>/files/<str:name>/", exports.export_job_file, name="export-job-file"),
    path("p/<slug:slug>/evaluate/", evaluation.label_evaluation, name="label-evaluation"),
    path("p/<slug:slug>/runs/", runs.run_list, name="job-list"),
    path("p/<slug:slug>/runs/new/", runs.run_form, name="job-new"),
    path("p/<slug:slug>/runs/<int:pk>/", runs.run_detail, name="job-detail"),
    path("p/<slug:slug>/runs/<int:pk>/cancel/", runs.run_cancel, name="job-cancel"),
    path("p/<slug:slug>/runs/<int:pk>/resume/", runs.run_resume, name="job-resume"),
]
