"""The request id and the acting user of the work in progress, so that audit rows can
name them."""

from __future__ import annotations

import contextvars
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# The request being answered (set by RequestIdMiddleware): its `user` is read only when an
# audit event needs an actor, after the authentication middleware or DRF has set it.
_request: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)


def get_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str | None = None) -> contextvars.Token:
    return _request_id.set(value or uuid.uuid4().hex)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def set_request(request) -> contextvars.Token:
    return _request.set(request)


def reset_request(token: contextvars.Token) -> None:
    _request.reset(token)


def current_actor():
    """The signed-in user of the request being answered, or None (the shell, a management
    command, an anonymous request): the actor of changes that no service was told about."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not user.is_authenticated:
        return None
    return user
