"""Gives every request an id that the audit trail records and the response echoes."""

import re

from .context import get_request_id, reset_request, reset_request_id, set_request, set_request_id

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        token = set_request_id(given if _SAFE_ID.fullmatch(given) else None)
        request_token = set_request(request)
        try:
            request.request_id = get_request_id()
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            reset_request(request_token)
            reset_request_id(token)
