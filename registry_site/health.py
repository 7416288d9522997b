"""`GET /healthz`: the process is up and answering. It reads nothing (no database, no cache,
no session) and needs no login, so a supervisor or a load balancer may call it often; it
says nothing about the database."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})
