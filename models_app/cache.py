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


def _generation(name: str) -> int:
    cache, key = registry_cache(), f"gen:{_name_key(name)}"
    found = cache.get(key)
    if found is None:
        # Never restart from a number used before: an evicted generation must not bring
        # back answers stored under an earlier one.
        cache.add(key, time.time_ns(), timeout=None)
        found = cache.get(key)
    return found if found is not None else time.time_ns()


def _bump(name: str) -> None:
    cache, key = registry_cache(), f"gen:{_name_key(name)}"
    try:
        cache.incr(key)
    except ValueError:  # no generation stored: the next read starts a new one
        cache.set(key, time.time_ns(), timeout=None)


def cache_invalidate_model(*names: str) -> None:
    """Drop the cached answers of the models with these names, now and on commit."""
    names = tuple(dict.fromkeys(n for n in names if n))
    for name in names:
        _bump(name)

    def again() -> None:
        for name in names:
            _bump(name)

    transaction.on_commit(again)


def production_answer(name: str, compute: Callable[[], Any]) -> Any:
    """The cached production answer of model `name`, else compute() (stored unless None)."""
    if not settings.REGISTRY_CACHE_SECONDS:
        return compute()
    key = f"production:{_name_key(name)}:{_generation(name)}"
    found = registry_cache().get(key)
    if found is not None:
        return found
    answer = compute()
    if answer is not None:
        registry_cache().set(key, answer)
    return answer


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


def _token_generation(found: dict) -> int:
    generation = found.get(TOKEN_GENERATION)
    if generation is None:
        registry_cache().add(TOKEN_GENERATION, time.time_ns(), timeout=None)
        generation = registry_cache().get(TOKEN_GENERATION, time.time_ns())
    return generation


def token_lookup(digest: str, compute: Callable[[], Any], *, now) -> Any:
    """The token row (with its user) whose whole token hashes to `digest`, from the cache
    when it holds one stored under the current generation and not yet expired at `now`;
    else compute() (stored unless None)."""
    seconds = settings.REGISTRY_TOKEN_CACHE_SECONDS
    if not seconds:
        return compute()
    cache, key = registry_cache(), _token_key(digest)
    found = cache.get_many([key, TOKEN_GENERATION])
    generation = _token_generation(found)
    entry = found.get(key)
    if entry is not None:
        stored_generation, token = entry
        if stored_generation == generation and (token.expiry is None or token.expiry > now):
            return token
    token = compute()
    if token is not None:
        cache.set(key, (generation, token), timeout=seconds)
    return token


def cache_invalidate_tokens() -> None:
    """Drop every cached token, now and when the current transaction commits."""
    if not settings.REGISTRY_TOKEN_CACHE_SECONDS:
        return

    def bump() -> None:
        try:
            registry_cache().incr(TOKEN_GENERATION)
        except ValueError:  # none stored: the next sign-in starts a new one
            registry_cache().set(TOKEN_GENERATION, time.time_ns(), timeout=None)

    bump()
    transaction.on_commit(bump)
