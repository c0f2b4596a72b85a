"""`/healthz`: is this web process up and can it reach its database? For container healthchecks
and load balancers (docs/operations.md). Anonymous, no session, no template: it must stay cheap."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with ``{"database": "ok"}``, or 503 naming the database error."""
    try:
        connection.ensure_connection()
    except DatabaseError as error:
        return JsonResponse({"database": f"unreachable: {error.__class__.__name__}"}, status=503)
    return JsonResponse({"database": "ok"})
