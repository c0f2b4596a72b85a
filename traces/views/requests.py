"""The request types of the browser UI's views.

Both are typing only: Django builds every request, and these classes name what its middleware and
decorators guarantee about it, the pattern django-stubs' and django-htmx's docs suggest.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that passed django-htmx's middleware (every request does: ``app/settings.py``)."""

    htmx: HtmxDetails


class SignedInRequest(HtmxHttpRequest):
    """A request that ``login_required`` let through: its user is an account, never AnonymousUser."""

    user: User
