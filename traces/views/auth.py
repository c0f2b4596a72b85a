"""The login page, rate-limited per username and client address (issue 9 item 1).

After ``LOGIN_FAILURE_LIMIT`` failed attempts for one username from one address within
``LOGIN_FAILURE_WINDOW`` seconds, further attempts answer 429 with a message saying when to try
again, without checking the password (so a guess cannot be confirmed while locked). A successful
login clears the count.

Hand-written rather than django-axes: axes needs the ``request`` in every ``authenticate()`` call,
which Django's test ``Client.login`` does not pass, so every test that logs in would need it turned
off; and it adds database tables for what is a counter in a cache. The counts live in the
``login-attempts`` cache (``app/settings.py``): Redis when configured, else a file cache shared by
every process on the machine, so several gunicorn workers count together.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse

ATTEMPTS_CACHE = "login-attempts"


def attempts_key(request: HttpRequest) -> str:
    """The counter of one username (case-insensitive) from one client address."""
    username = str(request.POST.get("username", "")).strip().lower()
    address = request.META.get("REMOTE_ADDR", "")
    return "login-failures:" + hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()


def failures(key: str) -> int:
    """Failed attempts counted in the current window (0 once it has ended, even before the cache
    entry expires)."""
    count, ends = caches[ATTEMPTS_CACHE].get(key, (0, 0.0))
    return int(count) if time.time() < ends else 0


def record_failure(key: str) -> None:
    """Count a failed attempt; the window starts at the first failure and is not extended by later ones.

    A read and a write, not an atomic increment (the cache's ``incr`` resets the expiry): two
    simultaneous failures may count once, which lets an attacker a handful more tries, not thousands.
    """
    cache = caches[ATTEMPTS_CACHE]
    now = time.time()
    count, ends = cache.get(key, (0, 0.0))
    if now >= ends:  # no window yet, or the last one has ended: this failure starts a new one
        count, ends = 0, now + settings.LOGIN_FAILURE_WINDOW
    cache.set(key, (count + 1, ends), timeout=max(1, ends - now))


class LoginView(auth_views.LoginView):
    """Django's login view with the failure limit in front of it."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if failures(attempts_key(request)) >= settings.LOGIN_FAILURE_LIMIT:
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW // 60)
            context = self.get_context_data(
                form=self.get_form_class()(request),
                locked=f"Too many failed logins for this username. Try again in {minutes} minutes.",
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        record_failure(attempts_key(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        caches[ATTEMPTS_CACHE].delete(attempts_key(self.request))
        return super().form_valid(form)
