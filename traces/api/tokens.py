"""``/api/auth/token/``: a person issues, rotates or revokes their own API token.

Tokens are per person (DRF authtoken). The endpoint needs the person signed in already — in the
browser session or with their current token — so it never takes a password and adds no way to guess
one. ``manage.py api_token`` does the same for an administrator.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from traces.actions.tokens import do_issue_token, do_revoke_token
from traces.api.views import SignedInApiRequest


class AuthTokenView(APIView):
    """POST: a new token for the signed-in person (the old one stops working); DELETE: revoke it."""

    @extend_schema(request=None, responses={201: inline_serializer("IssuedToken", {"token": serializers.CharField()})})
    def post(self, request: SignedInApiRequest) -> Response:
        return Response({"token": do_issue_token(request.user).key}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: SignedInApiRequest) -> Response:
        do_revoke_token(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
