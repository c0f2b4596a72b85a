"""Top-level URLs: auth, the browser UI, the REST API and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("traces.api.urls")),
    path("", include("traces.urls")),
]
