"""A Hypothesis state machine over the lifecycle and approvals.

Random sequences of register / edit card / review / promote / rollback / archive /
deprecate run against the real services and database. A small reference model
predicts each outcome; after every step the database must agree with it, hold at most
one production version, and every promotion that succeeded must have had, at that
moment, enough approvals of the then-current card revision by people who wrote neither
the version nor any of its card, with no standing objection.

After every step the dry run of each staging version must also agree with the reference
rule, so a guard that counts the wrong approvals is caught without waiting for a
promote to be drawn. 30 examples keep the test to seconds; for a deeper search run it
with MACHINE_EXAMPLES=500.

Each example runs inside a savepoint of the test's transaction and is rolled back in
`teardown`, so examples do not see each other's data.
"""

from __future__ import annotations

import itertools
import os

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from approvals_app import services as approvals
from approvals_app.cards import content_sha256
from approvals_app.models import CardRevision, Decision, ModelCard, Review
from models_app import selectors, services
from models_app.enums import Stage
from models_app.exceptions import GuardsFailed, InvalidTransition, NotAllowed
from models_app.models import ModelVersion, RegisteredModel
from tests.factories import FULL_CARD, current_sha256, make_model, make_user

THRESHOLD = 0.5
_names = itertools.count(1)


class RegistryMachine(RuleBasedStateMachine):
    """One model per example; people come from the test (class attribute `people`)."""

    people = None  # set by the test before running
    versions = Bundle("versions")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        p = self.people
        self.model = make_model(actor=p.admin, team=p.team, name=f"machine_{next(_names)}")
        self.stage: dict[int, str] = {}
        self.ever_promoted: set[int] = set()
        self.archived_at: dict[int, int] = {}
        self.clock = itertools.count()
        self.required = 1
        self.numbers = itertools.count(1)

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ------------------------------------------------------------------------

    def _user(self, name: str):
        return getattr(self.people, name) if name != "dual" else self.people.dual

    def _set(self, pk: int, stage: str) -> None:
        self.stage[pk] = stage
        if stage == Stage.ARCHIVED:
            self.archived_at[pk] = next(self.clock)

    def _production(self) -> int | None:
        return next((pk for pk, s in self.stage.items() if s == Stage.PRODUCTION), None)

    def _approved_now(self, v: ModelVersion) -> bool:
        """The promotion rule, computed from the stored rows independently of the guards."""
        card = ModelCard.objects.get(model_version=v)
        revision = card.current_revision
        assert revision.sha256 == content_sha256(revision.sections())
        writers = set(CardRevision.objects.filter(card=card).values_list("author_id", flat=True))
        writers.add(v.created_by_id)
        latest: dict[int, Review] = {}
        for review in Review.objects.filter(revision=revision).order_by("created_at", "id"):
            latest[review.reviewer_id] = review
        counted = [
            r
            for uid, r in latest.items()
            if uid not in writers and r.revision_sha256 == revision.sha256
        ]
        if any(r.decision != Decision.APPROVE for r in counted):
            return False
        sections_ok = all(text.strip() for text in revision.sections().values())
        metrics_ok = v.metrics.get("accuracy", 0) >= THRESHOLD
        return len(counted) >= self.required and sections_ok and metrics_ok

    # --- rules --------------------------------------------------------------------------

    @initialize(target=versions, required=st.sampled_from([1, 2]))
    def first_version(self, required: int) -> ModelVersion:
        """The policy, and a version with a complete card awaiting review: most sequences
        worth exploring start there."""
        self.required = required
        services.policy_update(
            actor=self.people.admin,
            model=self.model,
            required_approvals=required,
            thresholds=[{"metric": "accuracy", "min": THRESHOLD}],
        )
        v = self.register(author="author", accuracy=0.9)
        approvals.card_update(actor=self.people.author, version=v, sections=FULL_CARD)
        approvals.review_request(actor=self.people.author, version=v)
        return v

    # A few versions per example keep the sequences on one version long enough to reach
    # the interesting orders of edits and reviews.
    @precondition(lambda self: len(self.stage) < 3)
    @rule(
        target=versions,
        author=st.sampled_from(["author", "dual"]),
        accuracy=st.sampled_from([0.9, 0.9, 0.3]),
    )
    def register(self, author: str, accuracy: float) -> ModelVersion:
        v = services.model_version_register(
            actor=self._user(author),
            model=self.model,
            version=f"1.{next(self.numbers)}.0",
            metrics={"accuracy": accuracy},
        )
        self._set(v.pk, Stage.STAGING)
        return v

    @rule(
        v=versions,
        editor=st.sampled_from(["author", "dual"]),
        complete=st.sampled_from([True, True, False]),
        text=st.sampled_from(["A", "B", "C"]),
    )
    def edit_card(self, v: ModelVersion, editor: str, complete: bool, text: str) -> None:
        sections = {**FULL_CARD, "evaluation": f"Evaluation {text}."}
        if not complete:
            sections["limitations"] = ""
        try:
            approvals.card_update(actor=self._user(editor), version=v, sections=sections)
        except InvalidTransition:
            assert self.stage[v.pk] == Stage.DEPRECATED
        else:
            assert self.stage[v.pk] != Stage.DEPRECATED

    @rule(
        v=versions,
        reviewer=st.sampled_from(["reviewer", "reviewer2", "dual", "author"]),
        decision=st.sampled_from(["approve", "approve", "reject", "request_changes"]),
    )
    def review(self, v: ModelVersion, reviewer: str, decision: str) -> None:
        actor = self._user(reviewer)
        try:
            approvals.review_submit(
                actor=actor,
                version=v,
                decision=decision,
                comment="c",
                revision_sha256=current_sha256(v),
            )
        except InvalidTransition:
            assert self.stage[v.pk] != Stage.STAGING
        except NotAllowed:
            # No reviewer role (the plain author), or wrote the version or its card.
            writers = set(
                CardRevision.objects.filter(card__model_version=v).values_list(
                    "author_id", flat=True
                )
            ) | {v.created_by_id}
            assert reviewer == "author" or actor.pk in writers
        else:
            assert self.stage[v.pk] == Stage.STAGING
            assert reviewer != "author"
            writers = set(
                CardRevision.objects.filter(card__model_version=v).values_list(
                    "author_id", flat=True
                )
            ) | {v.created_by_id}
            assert actor.pk not in writers, "a writer of the version or its card reviewed it"

    @rule(v=versions)
    def promote(self, v: ModelVersion) -> None:
        v = ModelVersion.objects.get(pk=v.pk)
        should_pass = self.stage[v.pk] == Stage.STAGING and self._approved_now(v)
        previous = self._production()
        try:
            services.model_version_promote(actor=self.people.release, version=v, reason="m")
        except GuardsFailed:
            assert self.stage[v.pk] == Stage.STAGING
            assert not should_pass
        except InvalidTransition:
            assert self.stage[v.pk] != Stage.STAGING
        else:
            assert should_pass, "promoted without enough independent approvals"
            if previous is not None:
                self._set(previous, Stage.ARCHIVED)
            self._set(v.pk, Stage.PRODUCTION)
            self.ever_promoted.add(v.pk)

    @rule(v=versions, named=st.booleans())
    def rollback(self, v: ModelVersion, named: bool) -> None:
        """Roll back to `v` by name, or to the default target (the last known good)."""
        current = self._production()
        if named:
            target = (
                v.pk if self.stage[v.pk] == Stage.ARCHIVED and v.pk in self.ever_promoted else None
            )
        else:
            targets = [
                pk
                for pk, s in self.stage.items()
                if s == Stage.ARCHIVED and pk in self.ever_promoted
            ]
            target = max(targets, key=self.archived_at.__getitem__, default=None)
        try:
            restored = services.registered_model_rollback(
                actor=self.people.release,
                model=self.model,
                reason="m",
                to_version=v.version if named else None,
            )
        except InvalidTransition:
            assert current is None or target is None
        else:
            assert current is not None and restored.pk == target
            self._set(current, Stage.ROLLED_BACK)
            self._set(target, Stage.PRODUCTION)

    @rule(v=versions, how=st.sampled_from(["archive", "deprecate"]))
    def retire(self, v: ModelVersion, how: str) -> None:
        before = self.stage[v.pk]
        sources = {
            "archive": (Stage.STAGING, Stage.PRODUCTION),
            "deprecate": (Stage.STAGING, Stage.ARCHIVED, Stage.ROLLED_BACK),
        }[how]
        service = getattr(services, f"model_version_{how}")
        try:
            service(actor=self.people.release, version=v, reason="m")
        except InvalidTransition:
            assert before not in sources
        else:
            assert before in sources
            self._set(v.pk, Stage.ARCHIVED if how == "archive" else Stage.DEPRECATED)

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def database_agrees_with_reference(self) -> None:
        stored = dict(
            ModelVersion.objects.filter(registered_model=self.model).values_list("pk", "stage")
        )
        assert stored == self.stage
        assert list(stored.values()).count(Stage.PRODUCTION) <= 1

    @invariant()
    def stage_counts_agree_with_reference(self) -> None:
        """The model's stored count of versions per stage is its versions' stages counted."""
        expected = dict.fromkeys(Stage.values, 0)
        for stage in self.stage.values():
            expected[stage] += 1
        assert RegisteredModel.objects.get(pk=self.model.pk).stage_counts == expected

    @invariant()
    def dry_run_agrees_with_reference(self) -> None:
        """After every step, not only when a promote happens to be drawn: the guards'
        verdict on each staging version is the reference rule's."""
        for pk, stage in self.stage.items():
            if stage == Stage.STAGING:
                v = ModelVersion.objects.select_related("registered_model").get(pk=pk)
                verdict = all(r.passed for r in selectors.promotion_checks(version=v))
                assert verdict == self._approved_now(v), selectors.promotion_checks(version=v)


def test_lifecycle_state_machine(people):
    people.dual = make_user("dual", "contributor", "reviewer")
    services.team_member_add(actor=people.admin, team=people.team, user=people.dual)
    RegistryMachine.people = people
    try:
        run_state_machine_as_test(
            RegistryMachine,
            settings=settings(
                max_examples=int(os.environ.get("MACHINE_EXAMPLES", 30)),
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        RegistryMachine.people = None


def test_state_machine_rolls_back_its_data(people):
    """Each example's savepoint is rolled back: nothing of the machine's models remains."""
    from models_app.models import RegisteredModel

    people.dual = make_user("dual", "contributor", "reviewer")
    RegistryMachine.people = people
    try:
        machine = RegistryMachine()
        machine.register(author="author", accuracy=0.9)
        assert RegisteredModel.objects.filter(name__startswith="machine_").exists()
        machine.teardown()
    finally:
        RegistryMachine.people = None
    assert not RegisteredModel.objects.filter(name__startswith="machine_").exists()
