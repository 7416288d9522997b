"""The role table at the service layer: every role × every action.

Each cell builds what the action needs through the services (the version's author is a
separate contributor, `maker`, so that no role is refused merely for being the author),
then asks the service as that role: allowed cells succeed and leave an audit event;
refused cells raise NotAllowed (403) and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AnonymousUser

from approvals_app import services as approvals
from models_app import services
from models_app.exceptions import NotAllowed
from models_app.models import AuditEvent
from models_app.permissions import RULES, can
from tests.factories import FULL_CARD, approve, make_promotable, make_user, register

ROLES = [
    "viewer",
    "contributor",
    "contributor_other_team",
    "reviewer",
    "release_manager",
    "signal_reporter",
    "admin",
]

# action → roles allowed; contributors only on their own team's models.
ALLOWED = {
    "create_model": {"contributor", "admin"},
    "register": {"contributor", "admin"},
    "edit_card": {"contributor", "admin"},
    "request_review": {"contributor", "admin"},
    "review": {"reviewer", "admin"},
    "promote": {"release_manager", "admin"},
    "archive": {"release_manager", "admin"},
    "rollback": {"release_manager", "admin"},
    "deprecate": {"release_manager", "admin"},
    "change_policy": {"admin"},
    "manage_team": {"admin"},
    "post_signal": {"release_manager", "signal_reporter", "admin"},
}


class World:
    """People, one model of team fraud and a contributor `maker` who authors versions."""

    def __init__(self, people, model):
        self.people, self.model = people, model
        self.maker = make_user("maker", "contributor")
        services.team_member_add(actor=people.admin, team=people.team, user=self.maker)
        self.reporter = make_user("reporter", "signal_reporter")

    def actor(self, role: str):
        return {
            "viewer": self.people.viewer,
            "contributor": self.people.author,
            "contributor_other_team": self.people.outsider,
            "reviewer": self.people.reviewer,
            "release_manager": self.people.release,
            "signal_reporter": self.reporter,
            "admin": self.people.admin,
            "anonymous": AnonymousUser(),
        }[role]

    def staging(self, version: str = "1.0.0"):
        return register(actor=self.maker, model=self.model, version=version)

    def approved(self, version: str = "1.0.0"):
        return make_promotable(
            self.staging(version), author=self.maker, reviewer=self.people.reviewer
        )

    def promoted(self, version: str):
        return services.model_version_promote(
            actor=self.people.release, version=self.approved(version), reason="setup"
        )


def _prepare(action: str, w: World) -> Callable:
    """Build what `action` needs; return a call taking the actor."""
    p = w.people
    if action == "create_model":
        return lambda actor: services.registered_model_create(
            actor=actor, team=p.team, name="new_model"
        )
    if action == "register":
        return lambda actor: services.model_version_register(
            actor=actor, model=w.model, version="1.0.0", metrics={"accuracy": 0.9}
        )
    if action == "edit_card":
        v = w.staging()
        return lambda actor: approvals.card_update(actor=actor, version=v, sections=FULL_CARD)
    if action == "request_review":
        v = w.staging()
        return lambda actor: approvals.review_request(actor=actor, version=v)
    if action == "review":
        v = w.staging()
        approvals.card_update(actor=w.maker, version=v, sections=FULL_CARD)
        approvals.review_request(actor=w.maker, version=v)
        return lambda actor: approve(v, reviewer=actor)
    if action == "promote":
        v = w.approved()
        return lambda actor: services.model_version_promote(actor=actor, version=v, reason="r")
    if action == "archive":
        v = w.staging()
        return lambda actor: services.model_version_archive(actor=actor, version=v, reason="r")
    if action == "deprecate":
        v = w.staging()
        return lambda actor: services.model_version_deprecate(actor=actor, version=v, reason="r")
    if action == "rollback":
        w.promoted("1.0.0")
        w.promoted("1.1.0")
        return lambda actor: services.registered_model_rollback(
            actor=actor, model=w.model, reason="r"
        )
    if action == "change_policy":
        return lambda actor: services.policy_update(
            actor=actor, model=w.model, required_approvals=2, reason="r"
        )
    if action == "post_signal":
        v = w.promoted("1.0.0")
        return lambda actor: services.signal_record(
            actor=actor, version=v, metric="drift_psi", value=0.2, window="10m"
        )
    assert action == "manage_team"
    newcomer = make_user("newcomer", "contributor")
    return lambda actor: services.team_member_add(actor=actor, team=p.team, user=newcomer)


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(people, model, role, action):
    w = World(people, model)
    call = _prepare(action, w)
    actor = w.actor(role)
    events = AuditEvent.objects.count()
    if role in ALLOWED[action]:
        assert call(actor) is not None
        assert AuditEvent.objects.count() > events
        assert AuditEvent.objects.order_by("-id").first().actor_username == actor.username
    else:
        with pytest.raises(NotAllowed) as excinfo:
            call(actor)
        assert excinfo.value.status == 403
        assert excinfo.value.code == "permission_denied"
        assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("action", list(ALLOWED))
def test_anonymous_may_do_nothing(people, model, action):
    w = World(people, model)
    call = _prepare(action, w)
    with pytest.raises(NotAllowed, match="anonymous"):
        call(AnonymousUser())


def test_matrix_covers_every_rule():
    assert len(ALLOWED) == 12
    assert {r.permission for r in RULES.values()} <= {
        "models_app.create_model",
        "approvals_app.submit_review",
        "models_app.promote_version",
        "models_app.archive_version",
        "models_app.rollback_model",
        "models_app.deprecate_version",
        "models_app.change_promotionpolicy",
        "models_app.change_team",
        "models_app.post_signal",
    }


def test_contributor_acts_on_own_team_only(people, model):
    # The outsider (team pricing) is refused on fraud, with the team named…
    with pytest.raises(NotAllowed, match="not a member of that team"):
        services.registered_model_create(actor=people.outsider, team=people.team, name="sneaky")
    with pytest.raises(NotAllowed, match="not a member"):
        register(actor=people.outsider, model=model, version="1.0.0")
    # …and allowed on pricing.
    own = services.registered_model_create(
        actor=people.outsider, team=people.other_team, name="price_model"
    )
    v = register(actor=people.outsider, model=own, version="1.0.0")
    approvals.card_update(actor=people.outsider, version=v, sections=FULL_CARD)
    approvals.review_request(actor=people.outsider, version=v)
    # The fraud contributor cannot touch pricing's version.
    with pytest.raises(NotAllowed):
        approvals.card_update(actor=people.author, version=v, sections={"evaluation": "x"})
    with pytest.raises(NotAllowed):
        services.model_version_update(actor=people.author, version=v, description="x")


def test_removed_member_loses_team_rights(people, model):
    services.team_member_remove(actor=people.admin, team=people.team, user=people.author)
    author = make_user("author")  # fresh object: no cached memberships
    with pytest.raises(NotAllowed):
        register(actor=author, model=model, version="1.0.0")


def test_site_default_policy_is_admin_only(people):
    with pytest.raises(NotAllowed):
        services.policy_update(actor=people.release, model=None, required_approvals=3)
    policy = services.policy_update(actor=people.admin, model=None, required_approvals=3)
    assert policy.is_site_default and policy.required_approvals == 3


def test_can_agrees_with_services(people, model):
    assert can(people.author, "version.register", model)
    assert not can(people.outsider, "version.register", model)
    assert can(people.release, "version.promote")
    assert not can(people.reviewer, "version.promote")
    assert not can(AnonymousUser(), "version.register", model)
    assert can(people.admin, "team.change")
