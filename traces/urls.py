"""Browser UI URLs of the traces app."""

from django.urls import path

from traces.views import projects, traces

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("p/<slug:slug>/traces/", traces.trace_list, name="trace-list"),
    path("p/<slug:slug>/traces/<int:pk>/", traces.trace_detail, name="trace-detail"),
]
