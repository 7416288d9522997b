"""The lifecycle graph, read from the state machine on ModelVersion.stage.

The `@transition` declarations on ModelVersion (models.py) are the only place that says
which stage allows which change, where it leads and which audit action records it (the
transition's `custom["audit_action"]`). Everything else that needs to know asks here: the
services' refusals ("promote is allowed from staging"), the version page's buttons, the
MLflow door's stage names and the federation's walk from one stage to another. This
module reads the declarations through django-fsm-2's public helpers only: the model's
`get_all_stage_transitions()`, `can_proceed`, and each transition's `name`, `source`,
`target` and `custom`.

A new stage or transition is therefore a change to models.py (and its migration); the
tables below follow.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from functools import cache
from typing import NamedTuple

from django_fsm import ANY_OTHER_STATE, ANY_STATE, can_proceed

from .enums import Stage
from .models import ModelVersion


class Step(NamedTuple):
    """One edge of the graph: transition `name` from stage `source` to stage `target`,
    recorded in the audit trail as `action`."""

    name: str
    source: str
    target: str
    action: str


def _sources_of(source) -> list[str]:
    """A declared source as stages: django-fsm-2's "*" is every stage, "+" every stage but
    the transition's target."""
    return [source] if source not in (ANY_STATE, ANY_OTHER_STATE) else list(Stage.values)


@cache
def steps() -> tuple[Step, ...]:
    """Every (transition, source stage) pair declared on ModelVersion.stage, by transition
    name, then by stage in the order of Stage."""
    found = set()
    # get_all_stage_transitions is an instance method; an unsaved instance serves.
    for transition in ModelVersion().get_all_stage_transitions():
        for source in _sources_of(transition.source):
            # A transition without a target checks the stage and leaves it as it is.
            target = source if transition.target is None else transition.target
            if transition.source == ANY_OTHER_STATE and source == target:
                continue
            found.add(
                Step(
                    name=transition.name,
                    source=str(source),
                    target=str(target),
                    action=str(transition.custom.get("audit_action", "")),
                )
            )
    order = {stage: position for position, stage in enumerate(Stage.values)}
    return tuple(sorted(found, key=lambda s: (s.name, order.get(s.source, len(order)))))


def names() -> list[str]:
    """The transitions' names (the ModelVersion methods), sorted."""
    return sorted({step.name for step in steps()})


def sources(name: str) -> tuple[str, ...]:
    """The stages transition `name` starts from, in the order of Stage."""
    return tuple(step.source for step in steps() if step.name == name)


def targets(name: str) -> tuple[str, ...]:
    """The stages transition `name` leads to."""
    return tuple(dict.fromkeys(step.target for step in steps() if step.name == name))


def allows(stage: str, name: str) -> bool:
    """Whether transition `name` is declared from `stage` (its conditions aside: those
    depend on the version, see can_proceed)."""
    return stage in sources(name)


def leaves(stage: str) -> bool:
    """Whether any transition starts from `stage` (False for a final stage)."""
    return any(step.source == stage for step in steps())


def audit_action(name: str) -> str:
    """The audit action that records transition `name`."""
    for step in steps():
        if step.name == name:
            return step.action
    raise KeyError(name)


def initial_stage() -> str:
    """The stage every version is registered in: the state field's default."""
    return str(ModelVersion._meta.get_field("stage").default)


def allowed_from(name: str) -> str:
    """The stages `name` is allowed from, for a refusal: "staging", "staging or
    production", "staging, archived or rolled_back"."""
    stages = list(sources(name))
    if len(stages) <= 1:
        return "".join(stages)
    return f"{', '.join(stages[:-1])} or {stages[-1]}"


# --- Walking the graph -------------------------------------------------------------------
#
# A transition's conditions may depend on the version's past as well as its stage:
# `restore` is allowed only for a version that was in production before (promoted_at
# set). A walk therefore moves through states (stage, was in production), and learns what
# each transition does to them by applying it to an unsaved probe version: the
# transition method itself sets promoted_at or not. Probes are never saved.

_SOME_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@cache
def _moves(stage: str, promoted: bool) -> tuple[tuple[Step, bool], ...]:
    """The steps a version in `stage` (in production before, or not) may take, each with
    whether the version counts as having been in production after it."""
    moves = []
    for step in steps():
        if step.source != stage:
            continue
        probe = ModelVersion(stage=stage, promoted_at=_SOME_MOMENT if promoted else None)
        method = getattr(probe, step.name)
        if not can_proceed(method):
            continue
        method()
        moves.append((step, probe.promoted_at is not None))
    return tuple(moves)


def moves(stage: str, promoted: bool) -> list[Step]:
    """The steps a version in `stage` may take now, its conditions included: `promoted`
    says whether it was in production before (an archived version that never was cannot
    be restored by a rollback). Empty for a final stage."""
    return [step for step, _now_promoted in _moves(stage, promoted)]


def path(stage: str, promoted: bool, target: str, want_promoted: bool) -> list[Step] | None:
    """The shortest walk of the lifecycle from `stage` to `target`.

    `promoted` says whether the version was in production before; `want_promoted` asks
    that it has been by the end of the walk (a version archived after being in production
    elsewhere must have been in production here too, or a later rollback to it could not
    be followed, as restore needs it), unless `target` is a final stage, from which no
    transition depends on it. Among walks of one length, transitions are tried by name.
    None when there is no way.
    """
    start = (stage, promoted)
    queue = deque([start])
    came_from: dict = {start: None}
    while queue:
        state = queue.popleft()
        here, was = state
        if here == target and (was or not want_promoted or not leaves(target)):
            walk = []
            while came_from[state] is not None:
                state, step = came_from[state]
                walk.append(step)
            return walk[::-1]
        for step, now_was in _moves(here, was):
            nxt = (step.target, now_was)
            if nxt not in came_from:
                came_from[nxt] = (state, step)
                queue.append(nxt)
    return None
