"""The REST API's shared machinery: one error shape, a careful JSON parser, pagination
and token authentication.

Every error the API answers has this shape::

    {"error": {"code": "...", "message": "...", "details": ...}}

`api_exception_handler` answers the refusals the services raise (the registry's own
RegistryError subclasses, Django's ValidationError, the database errors a client can
provoke…) as models_app.errors maps them, for every door, and DRF's own exceptions (parse
errors, authentication, throttling…) here; `ApiErrorMiddleware` does the same for the 404
and 500 pages Django itself answers under /api/. Nothing a client sends should end in a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from hmac import compare_digest
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from models_app.cache import token_lookup
from models_app.errors import answer_for

MAX_JSON_DEPTH = 64


# --- The error shape --------------------------------------------------------------------


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> Response:
    return Response(error_body(code, message, details), status=status_code, headers=headers)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"

    def __init__(self, detail=None, *, limit: int | None = None, setting: str = "") -> None:
        super().__init__(detail)
        # The answer's details: the limit in bytes and the setting that raises it.
        self.limit_details = {"limit": limit, "setting": setting} if limit is not None else None


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "A Content-Length header is required."
    default_code = "length_required"


def _summarise(details: Any) -> str:
    """One readable sentence from a field → messages mapping (or a list of messages)."""
    if isinstance(details, dict):
        parts = []
        for field, messages in details.items():
            text = _summarise(messages)
            parts.append(text if field in ("non_field_errors", "__all__") else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(details, list | tuple):
        return " ".join(_summarise(item) for item in details)
    return str(details)


def _plain(details: Any) -> Any:
    """DRF ErrorDetail values → plain strings, so the JSON holds no surprises."""
    if isinstance(details, dict):
        return {str(key): _plain(value) for key, value in details.items()}
    if isinstance(details, list | tuple):
        return [_plain(item) for item in details]
    return str(details)


_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every exception a view raises → the one error shape with the right status."""
    # Imported here: DRF imports this module (the authentication class) while
    # rest_framework.views is still loading.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    request = context.get("request")
    if request is not None and not isinstance(
        getattr(request, "accepted_renderer", None), JSONRenderer
    ):
        # An error is always JSON, even from an endpoint that streams bytes on success.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"

    answer = answer_for(exc)
    if answer is not None:
        # A refusal, answered as every door answers it (models_app.errors).
        set_rollback()
        return error_response(answer.status, answer.code, answer.message, answer.details)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            413,
            "too_large",
            f"A JSON body may be at most {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
            {"limit": limit, "setting": "DATA_UPLOAD_MAX_MEMORY_SIZE"},
        )
    if isinstance(exc, SuspiciousOperation):
        return error_response(400, "invalid", "The request was refused as suspicious.")
    if isinstance(exc, RecursionError):
        return error_response(400, "parse_error", "The request is nested too deeply.")
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = _plain(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details if isinstance(details, list) else [details]}
        response.data = error_body("invalid", _summarise(details), details)
        return response
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    details = None
    if isinstance(exc, exceptions.Throttled):
        details = {"retry_after": exc.wait}
    if isinstance(exc, RequestTooLarge):
        details = exc.limit_details
    message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, message, details)
    return response


class ApiErrorMiddleware:
    """Answer errors that Django itself produces under /api/ (unknown URL, 500) as JSON.

    DRF's handler only sees exceptions raised inside an API view; a URL that matches no
    route, or a crash outside DRF, gets Django's HTML page, which this rewrites into the
    error shape.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not getattr(response, "streaming", False)
            and "json" not in response.get("Content-Type", "")
        ):
            code = _CODES.get(response.status_code, "error")
            message = {
                404: f"No API endpoint at {request.path}.",
                500: "The server failed to answer this request; the error has been logged.",
            }.get(response.status_code, response.reason_phrase)
            replaced = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("X-Request-ID", "Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response


# --- Parsing ----------------------------------------------------------------------------


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (NaN and Infinity are refused)")


INT_LIMIT = 2**63


def _parse_int(text: str) -> int:
    # Integers past 64 bits cannot be stored in a BigIntegerField or converted to a float
    # metric (OverflowError); they are refused at the parser for every endpoint.
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise ValueError(f"integer {text[:20]}… does not fit in 64 bits")
    return value


def check_json_value(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting deeper than `max_depth` and NUL characters in keys and strings.

    Iterative, so that the check itself cannot exhaust the stack. PostgreSQL's jsonb
    cannot store U+0000, so it is refused here for every endpoint.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise exceptions.ParseError("JSON strings must not contain NUL (\\u0000).")
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise exceptions.ParseError(
                    f"JSON is nested more than {max_depth} levels deep; refused."
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    raise exceptions.ParseError("JSON keys must not contain NUL (\\u0000).")
                stack.append((item, depth + 1))


def parse_json_body(stream, *, encoding: str, limit: int | None, too_large) -> Any:
    """Read and check a JSON body: at most `limit` bytes (else `too_large(limit)` is
    raised), no NaN/Infinity, a depth limit and no NUL (400)."""
    if stream is None:
        return {}
    raw = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(raw) > limit:
        raise too_large(limit)
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise exceptions.ParseError(f"The body is not valid {encoding} text.") from exc
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except RecursionError as exc:
        raise exceptions.ParseError(
            f"JSON is nested more than {MAX_JSON_DEPTH} levels deep; refused."
        ) from exc
    except ValueError as exc:
        raise exceptions.ParseError(f"JSON parse error: {exc}") from exc
    check_json_value(data)
    return data


class SafeJSONParser(JSONParser):
    """JSON with a size cap (413), no NaN/Infinity, a depth limit and no NUL (400).

    Python's json module raises RecursionError on very deep input (a 500 in a naive API);
    that and anything deeper than MAX_JSON_DEPTH is answered with 400 instead.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return parse_json_body(
            stream,
            encoding=parser_context.get("encoding", settings.DEFAULT_CHARSET),
            limit=limit,
            too_large=lambda limit: RequestTooLarge(
                f"A JSON body may be at most {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
                limit=limit,
                setting="DATA_UPLOAD_MAX_MEMORY_SIZE",
            ),
        )


# --- Pagination -------------------------------------------------------------------------


class InvalidCursor(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The cursor is not valid; start again from the first page."
    default_code = "invalid_cursor"


class RegistryPagination:
    """Keyset (cursor) pagination: ?cursor=<opaque>&page_size=M (at most 200).

    Answers {next, previous, results}: `next` and `previous` are links carrying an opaque
    `cursor` (null at either end). There is no count: counting every matching row would
    cost a scan of the table on every page.

    `ordering` is a list of field names (a leading "-" for descending) whose last field
    is unique, so that the order is total. A cursor holds the ordering values of the row
    a page ends (or starts) at; the next page is the rows strictly after it, read with
    a WHERE clause that the matching index serves, never with OFFSET. Rows added or
    removed between pages neither repeat nor shift the rows after the cursor.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    cursor_query_param = "cursor"
    max_cursor_length = 4000

    def __init__(self, ordering: list[str] | tuple[str, ...] = ("-id",)):
        if not ordering:
            raise ValueError("A keyset ordering needs at least one field.")
        self.ordering = [(name.removeprefix("-"), name.startswith("-")) for name in ordering]

    # --- The page size --------------------------------------------------------------

    def get_page_size(self, request) -> int:
        """page_size from the query string; a missing, malformed or non-positive one is
        the default, a larger one the maximum."""
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw.isascii() and raw.isdigit() and len(raw) < 10 and int(raw) > 0:
            return min(int(raw), self.max_page_size)
        return self.page_size

    # --- Cursors --------------------------------------------------------------------

    def _fields(self, model) -> list:
        return [model._meta.get_field(name) for name, _ in self.ordering]

    def encode_cursor(self, obj, *, forward: bool) -> str:
        values = []
        for field in self._fields(type(obj)):
            value = field.value_from_object(obj)
            if isinstance(value, dt.datetime | dt.date):
                value = value.isoformat()
            values.append(value)
        raw = json.dumps({"d": "n" if forward else "p", "v": values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode_cursor(self, text: str, model) -> tuple[bool, list]:
        """(forward, values) from a cursor; InvalidCursor (400) for anything else."""
        if len(text) > self.max_cursor_length:
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise InvalidCursor() from exc
        if (
            not isinstance(data, dict)
            or data.get("d") not in ("n", "p")
            or not isinstance(data.get("v"), list)
            or len(data["v"]) != len(self.ordering)
        ):
            raise InvalidCursor()
        values = []
        for field, value in zip(self._fields(model), data["v"], strict=True):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise InvalidCursor()
            if isinstance(value, str) and ("\x00" in value or len(value) > 1000):
                raise InvalidCursor()
            if isinstance(value, int) and not -INT_LIMIT <= value < INT_LIMIT:
                raise InvalidCursor()
            try:
                value = field.to_python(value)
            except (DjangoValidationError, ValueError, TypeError, OverflowError) as exc:
                raise InvalidCursor() from exc
            if value is None:
                raise InvalidCursor()
            values.append(value)
        return data["d"] == "n", values

    def _after(self, values: list, *, forward: bool) -> models.Q:
        """The rows strictly after `values` in the ordering (before it when not forward).

        (a, b, c) after (x, y, z) is a > x OR (a = x AND (b > y OR (b = y AND c > z))),
        with "a >= x" added in front so that the index's range starts at the cursor.
        """
        condition = None
        for (name, descending), value in reversed(list(zip(self.ordering, values, strict=True))):
            op = "lt" if descending == forward else "gt"
            strict = models.Q(**{f"{name}__{op}": value})
            condition = (
                strict if condition is None else strict | (models.Q(**{name: value}) & condition)
            )
        name, descending = self.ordering[0]
        bound = models.Q(**{f"{name}__{'lte' if descending == forward else 'gte'}": values[0]})
        return bound & condition

    def _order(self, *, forward: bool) -> list[str]:
        return [("-" if descending == forward else "") + name for name, descending in self.ordering]

    # --- Pages ----------------------------------------------------------------------

    def paginate_queryset(self, queryset, request, view=None) -> list:
        self.request = request
        if "page" in request.query_params:
            # A client still counting pages would get the first page forever.
            raise exceptions.ValidationError(
                {"page": ["Lists are paged with cursors: follow the `next` link."]}
            )
        size = self.get_page_size(request)
        text = request.query_params.get(self.cursor_query_param, "")
        forward, values = True, None
        if text:
            forward, values = self.decode_cursor(text, queryset.model)
            queryset = queryset.filter(self._after(values, forward=forward))
        rows = list(queryset.order_by(*self._order(forward=forward))[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if not forward:
            rows.reverse()
        self.next_cursor = self.previous_cursor = None
        if rows:
            # Going forward there is a next page when a row was left over, and a page
            # before whenever a cursor brought us here; going back, the other way round.
            if more if forward else values is not None:
                self.next_cursor = self.encode_cursor(rows[-1], forward=True)
            if more if not forward else values is not None:
                self.previous_cursor = self.encode_cursor(rows[0], forward=False)
        return rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        parts = urlsplit(self.request.build_absolute_uri())
        query = [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key != self.cursor_query_param
        ]
        query.append((self.cursor_query_param, cursor))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def get_next_link(self) -> str | None:
        return self._link(self.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_cursor)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )


# --- Authentication ------------------------------------------------------------------------


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored hashed, expiring, revocable), robust to junk headers.

    Knox decodes the token as UTF-8 and would crash (500) on other bytes; such a header is
    an authentication failure (401). The check is knox's own, in one query (the tokens with
    this key, with their users); with a shared cache (REGISTRY_TOKEN_CACHE_SECONDS), a
    token signed in with before is found there instead (models_app.cache).
    """

    def authenticate_credentials(self, token):
        message = "Invalid token."
        try:
            token = token.decode("ascii")
            digest = hash_token(token)
        except (UnicodeDecodeError, AttributeError, TypeError, binascii.Error) as exc:
            raise exceptions.AuthenticationFailed(message) from exc
        auth_token = token_lookup(
            digest, lambda: self.stored_token(token, digest), now=timezone.now()
        )
        if auth_token is None:
            raise exceptions.AuthenticationFailed(message)
        return self.validate_user(auth_token)

    def stored_token(self, token: str, digest: str):
        """The stored token this one is, with its user, or None: knox's own check, in one
        query (the tokens with this key, with their users)."""
        candidates = (
            get_token_model()
            .objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user")
        )
        for auth_token in candidates:
            if self.refused_as_expired(auth_token):
                continue
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return auth_token
        return None

    def refused_as_expired(self, auth_token) -> bool:
        """Refuse (and delete) this token when expired, and nothing more.

        Knox also reads and purges every other token of the user on every request: a
        query, and on SQLite a write lock, for each authenticated read. Other expired
        tokens are refused when they are used and are listed as expired on the tokens page.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


# --- Schema helpers ---------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable code.")
    message = serializers.CharField(help_text="A sentence a person can act on.")
    details = serializers.JSONField(
        allow_null=True,
        help_text="Field → messages for validation errors; each guard for guards_failed.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every API answer with a 4xx or 5xx status."""

    error = ErrorDetailSerializer()


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the knox token header in the OpenAPI schema."""

    target_class = "models_app.api.common.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A token from POST /api/v1/auth/token/, sent as "Token <token>".',
        }
