"""The login and password-reset pages, rate-limited per account and client address.

**Login**: after ``LOGIN_FAILURE_LIMIT`` failed attempts for one username from one address within
``LOGIN_FAILURE_WINDOW`` seconds, further attempts answer 429 with a message saying when to try
again, without checking the password (so a guess cannot be confirmed while locked). A successful
login clears the count. The username is counted as Django's login form reads it (stripped,
NFKC-normalised: full-width ``ａlice`` signs in as ``alice``) and case-folded, so every spelling
that signs in to one account shares its counter; folding case may merge accounts that differ only
in case, which only makes the limit stricter.

**Password reset**: every request counts, per submitted email (case-folded and NFKC-normalised, as
Django matches it to accounts) and per address; once either count reaches ``PASSWORD_RESET_LIMIT``
within ``PASSWORD_RESET_WINDOW`` seconds, the request answers 429 and sends no mail.

Hand-written rather than django-axes: axes needs the ``request`` in every ``authenticate()`` call,
which Django's test ``Client.login`` does not pass, so every test that logs in would need it turned
off; and it adds database tables for what is a counter in a cache (``traces/ratelimit.py``).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.views.generic import FormView

from traces import ratelimit


def client_address(request: HttpRequest) -> str:
    """The address the request came from (behind a proxy, the proxy must pass the client's)."""
    return str(request.META.get("REMOTE_ADDR", ""))


def counted_username(raw: str) -> str:
    """The username as the login form authenticates it (stripped, NFKC), case-folded."""
    return str(AuthenticationForm.base_fields["username"].to_python(raw)).casefold()


def counted_email(raw: str) -> str:
    """The email as the reset form matches accounts by it (stripped, NFKC, case-insensitive)."""
    return unicodedata.normalize("NFKC", raw.strip()).casefold()


def login_key(request: HttpRequest) -> str:
    """The failure counter of the submitted username from the client's address."""
    username = counted_username(str(request.POST.get("username", "")))
    return ratelimit.counter_key("login-failures", username, client_address(request))


def reset_limits(request: HttpRequest) -> list[tuple[str, str]]:
    """``(counter key, message when it is full)`` of a reset request: per email, then per address."""
    email = counted_email(str(request.POST.get("email", "")))
    return [
        (
            ratelimit.counter_key("password-reset-email", email),
            "Too many password reset requests for this email address.",
        ),
        (
            ratelimit.counter_key("password-reset-address", client_address(request)),
            "Too many password reset requests from this address.",
        ),
    ]


def try_again(window: int) -> str:
    """When a locked-out person may try again, in words."""
    return f"Try again in {max(1, window // 60)} minutes."


class RefusalMixin(FormView):
    """Answers 429 with the page's empty form and a ``locked`` message instead of handling the POST."""

    def refuse(self, message: str) -> HttpResponse:
        # An unbound form: rendering a bound one would validate it (the login form checks the password).
        context = self.get_context_data(form=self.get_form_class()(), locked=message)
        return self.render_to_response(context, status=429)


class LoginView(RefusalMixin, auth_views.LoginView):
    """Django's login view with the failure limit in front of it."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if ratelimit.count(login_key(request)) >= settings.LOGIN_FAILURE_LIMIT:
            return self.refuse(
                f"Too many failed logins for this username. {try_again(settings.LOGIN_FAILURE_WINDOW)}"
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        ratelimit.record(login_key(self.request), settings.LOGIN_FAILURE_WINDOW)
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        ratelimit.clear(login_key(self.request))
        return super().form_valid(form)


class PasswordResetView(RefusalMixin, auth_views.PasswordResetView):
    """Django's password-reset request with a limit per email and per address in front of it."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limits = reset_limits(request)
        for key, message in limits:
            if ratelimit.count(key) >= settings.PASSWORD_RESET_LIMIT:
                return self.refuse(f"{message} {try_again(settings.PASSWORD_RESET_WINDOW)}")
        for key, _ in limits:
            ratelimit.record(key, settings.PASSWORD_RESET_WINDOW)
        return super().post(request, *args, **kwargs)
