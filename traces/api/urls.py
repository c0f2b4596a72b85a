"""API routes (DRF router) and the OpenAPI schema with its browsable docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from traces.api import members, prms, tokens, views
from traces.api.serializers import SLUG_PATTERN

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(rf"projects/(?P<slug>{SLUG_PATTERN})/members", members.MemberViewSet, basename="project-member")
router.register("problems", views.ProblemViewSet, basename="problem")
router.register("models", views.LanguageModelViewSet, basename="languagemodel")
router.register("runs", views.RunViewSet, basename="run")
router.register("traces", views.TraceViewSet, basename="trace")
router.register("labels", views.LabelViewSet, basename="label")
router.register("scores", views.ScoreViewSet, basename="score")
router.register("preferences", views.PreferenceViewSet, basename="preference")
router.register("imports", views.ImportViewSet, basename="import")
router.register("exports", views.ExportViewSet, basename="export")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("prms", prms.PrmViewSet, basename="scorer")

urlpatterns = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/token/", tokens.AuthTokenView.as_view(), name="auth-token"),
]
