"""Top-level URLs: auth, the browser UI, the REST API and the admin."""

from django.contrib import admin
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView

from app.health import healthz
from traces.views.auth import LoginView, PasswordResetView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # The rate-limited login; the admin signs in through it too, so no login is left unlimited.
    path("accounts/login/", LoginView.as_view(), name="login"),
    # The reset request is rate-limited too (per email and address); the rest of the flow is Django's.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("admin/login/", RedirectView.as_view(url=reverse_lazy("login"), query_string=True), name="admin-login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("traces.api.urls")),
    path("", include("traces.urls")),
]
