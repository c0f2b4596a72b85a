"""Response headers Django does not set itself.

The Content-Security-Policy is sent as a header on every response (not only HTML pages: a payload
rendered by some other route is covered too). Hand-written rather than django-csp: the policy is
one constant with no nonces (scripts are files under ``static/js``), which is a header, not a library.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Set ``settings.CONTENT_SECURITY_POLICY`` on every response that has none of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
