"""Answers read far more than written, kept in the "registry" cache (settings.CACHES).

Today one answer: which version of a model is in production, as GET …/production/ gives
it. Each model name has a generation number; an answer is stored under the name and the
generation read before the database was. A change bumps the generation, once at once and
once more when its transaction commits: an answer read before the commit and stored
meanwhile sits under an old generation and is never served again. Every service that
changes a model or its versions records an audit event (models_app.audit.record_event),
which calls cache_invalidate_model(): the one place the answers are dropped.
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
