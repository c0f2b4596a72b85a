"""The signed-in person's API token in the browser UI: created here, revocable. The page shows whether a token exists and when it was made; a new
token's key is shown once, right after it is issued, never again (it is a password)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from traces.actions.tokens import do_issue_token, do_revoke_token
from traces.queries.accounts import api_token_of
from traces.views.requests import SignedInRequest


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: SignedInRequest) -> HttpResponse:
    """GET: the token's state. POST ``action=issue`` (new or rotated) or ``action=revoke``."""
    issued = None
    message = ""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "issue":
            issued = do_issue_token(request.user).key
        elif action == "revoke":
            message = "Token revoked." if do_revoke_token(request.user) else "There was no token to revoke."
        else:
            return render(request, "traces/api_token.html", {"error": "Unknown action: issue or revoke."}, status=400)
    token = api_token_of(request.user)
    context = {"token": token, "issued": issued, "message": message}
    return render(request, "traces/api_token.html", context)
