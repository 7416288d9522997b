"""Answers read far more than written, kept in the "registry" cache (settings.CACHES).

Two kinds of answer: which version of a model is in production, as GET …/production/ gives
it; and which user an API token signs in, with the token's row (at the end of this module,
kept only where every process shares the cache).

The production answer: each model name has a generation number; an answer is stored under
the name and the generation read before the database was. A change bumps the generation,
once at once and once more when its transaction commits: an answer read before the commit
and stored meanwhile sits under an old generation and is never served again. Every service
that changes a model or its versions records an audit event
(models_app.audit.record_event), which calls cache_invalidate_model(): the one place the
answers are dropped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

ALIAS = "registry"


def registry_cache():
    return caches[ALIAS]


def _name_key(name: str) -> str:
    # Hashed: a name in a URL may be long or hold characters a cache key may not.
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _generation(gen_key: str, found: dict) -> int:
    """The generation under `gen_key` as `found` read it, or a new one if none is stored."""
    generation = found.get(gen_key)
    if generation is None:
        # Never restart from a number used before: an evicted generation must not bring
        # back answers stored under an earlier one.
        registry_cache().add(gen_key, time.time_ns(), timeout=None)
        generation = registry_cache().get(gen_key)
    return generation if generation is not None else time.time_ns()


def _bump(gen_key: str) -> None:
    try:
        registry_cache().incr(gen_key)
    except ValueError:  # no generation stored: the next read starts a new one
        registry_cache().set(gen_key, time.time_ns(), timeout=None)


def _cached(key: str, gen_key: str, compute: Callable[[], Any], *, timeout, usable) -> Any:
    """The value stored under `key` if it was stored under the current generation and
    usable(value) holds; else compute(), stored (unless None) under the generation read
    before it ran. One round trip to the cache on a hit."""
    found = registry_cache().get_many([key, gen_key])
    generation = _generation(gen_key, found)
    entry = found.get(key)
    if entry is not None and entry[0] == generation and usable(entry[1]):
        return entry[1]
    value = compute()
    if value is not None:
        registry_cache().set(key, (generation, value), timeout=timeout)
    return value


def _model_generation_key(name: str) -> str:
    return f"gen:{_name_key(name)}"


def cache_invalidate_model(*names: str) -> None:
    """Drop the cached answers of the models with these names, now and on commit."""
    keys = tuple(dict.fromkeys(_model_generation_key(n) for n in names if n))
    for key in keys:
        _bump(key)

    def again() -> None:
        for key in keys:
            _bump(key)

    transaction.on_commit(again)


def production_answer(name: str, compute: Callable[[], Any]) -> Any:
    """The cached production answer of model `name`, else compute() (stored unless None)."""
    if not settings.REGISTRY_CACHE_SECONDS:
        return compute()
    return _cached(
        f"production:{_name_key(name)}",
        _model_generation_key(name),
        compute,
        timeout=settings.REGISTRY_CACHE_SECONDS,
        usable=lambda answer: True,
    )


# --- API tokens ---------------------------------------------------------------------------
#
# A token's row with its user, under the digest of the whole token (the presented token
# must hash to it, so a hit is a match), stored with the token generation read before the
# database was. Any change that could sign a token out (a token deleted: revoked, expired or
# signed out; a user saved or deleted) bumps the one generation, now and on commit, which
# drops every cached token: such changes are rare next to sign-ins. An expired token is
# never served from the cache. Off unless settings.REGISTRY_TOKEN_CACHE_SECONDS: a cache
# that is each process's own could not learn of a revocation made in another process.

TOKEN_GENERATION = "gen:tokens"  # noqa: S105 - a cache key, not a secret


def _token_key(digest: str) -> str:
    return f"token:{digest}"


def token_lookup(digest: str, compute: Callable[[], Any], *, now) -> Any:
    """The token row (with its user) whose whole token hashes to `digest`, from the cache
    when it holds one stored under the current generation and not yet expired at `now`;
    else compute() (stored unless None)."""
    seconds = settings.REGISTRY_TOKEN_CACHE_SECONDS
    if not seconds:
        return compute()
    return _cached(
        _token_key(digest),
        TOKEN_GENERATION,
        compute,
        timeout=seconds,
        usable=lambda token: token.expiry is None or token.expiry > now,
    )


def cache_invalidate_tokens() -> None:
    """Drop every cached token, now and when the current transaction commits."""
    if not settings.REGISTRY_TOKEN_CACHE_SECONDS:
        return

    _bump(TOKEN_GENERATION)
    transaction.on_commit(lambda: _bump(TOKEN_GENERATION))
