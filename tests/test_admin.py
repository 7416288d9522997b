"""The admin door: every write through the services, transitions only as guarded actions,
history read-only, evidence never changed or deleted."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse

from approvals_app import services as approvals
from approvals_app.models import CardRevision, ModelCard, Review
from models_app import selectors, services
from models_app.audit import record_event
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion, PromotionPolicy, RegisteredModel, Team
from tests.factories import (
    FULL_CARD,
    approve,
    current_sha256,
    make_model,
    make_promotable,
    make_user,
    register,
)

CHANGELIST = "admin:models_app_modelversion_changelist"
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=\"|\son[a-z]+=\"")


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def su(client, people):
    """A client signed in as the superuser (the admin role)."""
    client.force_login(people.admin)
    return client


@pytest.fixture
def staffer(people):
    """A staff contributor of the fraud team who may edit versions but not promote."""
    user = make_user("staffer", "contributor")
    services.team_member_add(actor=people.admin, team=people.team, user=user)
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        Permission.objects.get(codename="change_modelversion", content_type__app_label="models_app")
    )
    return User.objects.get(pk=user.pk)


@pytest.fixture
def promotable(people, model):
    """A staging version whose every guard passes."""
    mv = register(actor=people.author, model=model, version="1.0.0")
    return make_promotable(mv, author=people.author, reviewer=people.reviewer)


def stage_of(version: ModelVersion) -> str:
    return ModelVersion.objects.get(pk=version.pk).stage


# --- Every page renders ---------------------------------------------------------------------


def test_admin_pages_render_for_superuser(su, people, model, promote):
    live = promote(model, "1.0.0")
    card = ModelCard.objects.get(model_version=live)
    review = Review.objects.get(model_version=live)
    policy = services.policy_update(actor=people.admin, model=model, required_approvals=1)
    event = AuditEvent.objects.first()
    version_row = ModelVersion.history.filter(id=live.pk).first()
    team_row = Team.history.filter(id=people.team.pk).first()
    card_row = ModelCard.history.filter(id=card.pk).first()
    policy_row = PromotionPolicy.history.filter(id=policy.pk).first()
    pages = [
        admin_url("index"),
        admin_url("models_app_team_changelist"),
        admin_url("models_app_team_add"),
        admin_url("models_app_team_change", people.team.pk),
        admin_url("models_app_team_history", people.team.pk),
        admin_url("models_app_registeredmodel_changelist"),
        admin_url("models_app_registeredmodel_add"),
        admin_url("models_app_registeredmodel_change", model.pk),
        admin_url("models_app_modelversion_changelist"),
        admin_url("models_app_modelversion_add"),
        admin_url("models_app_modelversion_change", live.pk),
        admin_url("models_app_modelversion_history", live.pk),
        admin_url("models_app_promotionpolicy_changelist"),
        admin_url("models_app_promotionpolicy_add"),
        admin_url("models_app_promotionpolicy_change", policy.pk),
        admin_url("models_app_auditevent_changelist"),
        admin_url("models_app_auditevent_change", event.pk),
        admin_url("models_app_historicalmodelversion_changelist"),
        admin_url("models_app_historicalteam_changelist"),
        admin_url("approvals_app_modelcard_changelist"),
        admin_url("approvals_app_modelcard_change", card.pk),
        admin_url("approvals_app_modelcard_history", card.pk),
        admin_url("approvals_app_cardrevision_changelist"),
        admin_url("approvals_app_review_changelist"),
        admin_url("approvals_app_review_add"),
        admin_url("approvals_app_review_change", review.pk),
        admin_url("approvals_app_historicalreview_changelist"),
        admin_url("models_app_historicalmodelversion_change", version_row.history_id),
        admin_url("models_app_historicalmembership_changelist"),
        admin_url("models_app_historicalpromotionpolicy_changelist"),
        admin_url("models_app_historicalregisteredmodel_changelist"),
        admin_url("approvals_app_historicalmodelcard_changelist"),
        admin_url("approvals_app_cardrevision_change", card.current_revision_id),
        admin_url("models_app_team_simple_history", people.team.pk, team_row.history_id),
        admin_url("models_app_modelversion_simple_history", live.pk, version_row.history_id),
        admin_url("approvals_app_modelcard_simple_history", card.pk, card_row.history_id),
        admin_url("models_app_promotionpolicy_simple_history", policy.pk, policy_row.history_id),
        admin_url("models_app_promotionpolicy_history", policy.pk),
        admin_url("approvals_app_review_history", review.pk),
        admin_url("auth_user_changelist"),
        admin_url("auth_user_add"),
        admin_url("auth_user_change", people.author.pk),
    ]
    for page in pages:
        response = su.get(page)
        assert response.status_code == 200, page
        # The CSP has no 'unsafe-inline': no inline script, style attribute or handler.
        html = response.content.decode()
        assert not INLINE_CODE.search(html), (page, INLINE_CODE.search(html))


def test_admin_changelist_search_and_filters_answer(su, people, model, promote):
    promote(model, "1.0.0")
    changelist = admin_url("models_app_modelversion_changelist")
    assert su.get(changelist, {"q": "fraud"}).status_code == 200
    assert su.get(changelist, {"stage__exact": "production"}).context["cl"].result_count == 1
    events = admin_url("models_app_auditevent_changelist")
    response = su.get(events, {"action__exact": Action.VERSION_PROMOTED})
    assert response.context["cl"].result_count == 1


def test_admin_audit_filter_offers_every_action_without_field_choices(su, people, model):
    """AuditEvent.action declares no choices (a new event type needs no migration); the
    admin's filter offers the Action members, and an event of a type Action does not know
    is listed as stored."""
    assert not AuditEvent._meta.get_field("action").choices
    record_event(action="model.inspected", actor=people.admin, obj=model)
    events = admin_url("models_app_auditevent_changelist")
    page = su.get(events)
    [spec] = [f for f in page.context["cl"].filter_specs if f.title == "action"]
    assert [c["display"] for c in spec.choices(page.context["cl"])][1:] == Action.labels
    text = page.content.decode()
    assert "Model created" in text and "model.inspected" in text
    only = su.get(events, {"action__exact": "model.inspected"})
    assert [e.action for e in only.context["cl"].result_list] == ["model.inspected"]


# --- No transition without the permission ------------------------------------------------


@pytest.mark.parametrize("with_index", [False, True])
def test_promote_action_by_staff_without_permission_changes_nothing(
    client, staffer, promotable, with_index
):
    client.force_login(staffer)
    data = {
        "action": "promote_versions",
        "_selected_action": [promotable.pk],
        "confirm": "yes",
        "reason": "sneaking it in",
    }
    if with_index:
        data["index"] = "0"
    response = client.post(reverse(CHANGELIST), data)
    assert response.status_code in (200, 302)
    assert stage_of(promotable) == Stage.STAGING
    assert not AuditEvent.objects.filter(action=Action.VERSION_PROMOTED).exists()


def test_promote_action_is_not_offered_without_permission(client, staffer, promotable):
    client.force_login(staffer)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    offered = {name for name, _ in response.context["action_form"].fields["action"].choices}
    assert "check_promotion" in offered
    assert not offered & {"promote_versions", "archive_versions", "deprecate_versions"}


def test_fsm_transition_field_on_change_form_is_ignored(client, staffer, promotable):
    client.force_login(staffer)
    response = client.post(
        admin_url("models_app_modelversion_change", promotable.pk),
        {"description": "edited", "tags": "{}", "_fsm_transition_to": "promote", "_save": "Save"},
    )
    assert response.status_code == 302
    version = ModelVersion.objects.get(pk=promotable.pk)
    assert (version.stage, version.description) == (Stage.STAGING, "edited")
    event = AuditEvent.objects.get(action=Action.VERSION_CHANGED)
    assert event.actor_username == "staffer"


def test_change_form_post_without_change_permission_is_forbidden(client, people, promotable):
    viewer = make_user("staff_viewer", "viewer")
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    url = admin_url("models_app_modelversion_change", promotable.pk)
    assert client.get(url).status_code == 200
    response = client.post(url, {"description": "x", "_fsm_transition_to": "promote"})
    assert response.status_code == 403
    assert stage_of(promotable) == Stage.STAGING


def test_change_form_of_another_teams_version_is_refused_in_form(client, people, promotable):
    outsider = make_user("staff_outsider", "contributor")
    services.team_member_add(actor=people.admin, team=people.other_team, user=outsider)
    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.add(
        Permission.objects.get(codename="change_modelversion", content_type__app_label="models_app")
    )
    client.force_login(outsider)
    response = client.post(
        admin_url("models_app_modelversion_change", promotable.pk),
        {"description": "defaced", "tags": "{}"},
    )
    assert response.status_code == 200
    assert "not a member" in str(response.context["adminform"].form.non_field_errors())
    assert ModelVersion.objects.get(pk=promotable.pk).description == ""


def test_promote_action_by_staff_release_manager_succeeds(client, people, promotable):
    manager = make_user("staff_release", "release_manager")
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "promote_versions",
            "_selected_action": [promotable.pk],
            "confirm": "yes",
            "reason": "approved release",
        },
    )
    assert response.status_code == 302
    assert stage_of(promotable) == Stage.PRODUCTION
    event = AuditEvent.objects.get(action=Action.VERSION_PROMOTED)
    assert (event.actor_username, event.reason) == ("staff_release", "approved release")


@pytest.mark.parametrize("action", ["promote_everything_now", "", "delete_selected", "promote"])
def test_unknown_action_name_gives_no_500(su, promotable, action):
    response = su.post(
        reverse(CHANGELIST),
        {"action": action, "index": "0", "_selected_action": [promotable.pk], "reason": "x"},
    )
    assert response.status_code == 302
    assert "No action selected." in message_texts(response)
    assert ModelVersion.objects.filter(pk=promotable.pk, stage=Stage.STAGING).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "promote_versions", "index": "x", "_selected_action": ["1"]},
        {"action": "promote_versions", "index": "0", "_selected_action": ["abc"]},
        {"action": "promote_versions", "index": "7", "_selected_action": ["1"]},
        {"action": "promote_versions", "_selected_action": ["1e3"], "confirm": "yes"},
        {"action": ["promote_versions", "archive_versions"], "index": "1"},
    ],
)
def test_garbled_action_post_gives_no_500(su, promotable, data):
    response = su.post(reverse(CHANGELIST), data)
    assert response.status_code in (200, 302)
    assert stage_of(promotable) == Stage.STAGING


@pytest.mark.parametrize(
    "query",
    [
        {"stage__exact": "bogus"},
        {"registered_model__team__id__exact": "abc"},
        {"o": "abc"},
        {"p": "-1"},
        {"created_at__year": "abc"},
        {"q": "\x00"},
        {"stage": "production", "unknown_field": "1"},
    ],
)
def test_garbled_changelist_query_gives_no_500(su, promotable, query):
    for name in (CHANGELIST, "admin:models_app_auditevent_changelist"):
        response = su.get(reverse(name), query)
        # 200, a 302 with "?e=1" for a bad value, or 400 for a lookup the page does not allow.
        assert response.status_code in (200, 302, 400), (name, query)


# --- Transition actions call the services ---------------------------------------------------


def test_promote_action_asks_for_reason_and_shows_dry_run(su, promotable):
    response = su.post(
        reverse(CHANGELIST),
        {"action": "promote_versions", "index": "0", "_selected_action": [promotable.pk]},
    )
    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert not INLINE_CODE.search(response.content.decode())
    assert b"threshold" in response.content or b"review" in response.content
    assert stage_of(promotable) == Stage.STAGING


def test_promote_action_without_reason_is_refused_in_place(su, promotable):
    response = su.post(
        reverse(CHANGELIST),
        {
            "action": "promote_versions",
            "_selected_action": [promotable.pk],
            "confirm": "yes",
            "reason": "  ",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert stage_of(promotable) == Stage.STAGING


def test_promote_action_leaves_same_audit_event_as_service(su, people, promotable):
    other = make_model(actor=people.author, team=people.team, name="churn")
    direct = register(actor=people.author, model=other, version="1.0.0")
    make_promotable(direct, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.admin, version=direct, reason="quarterly release")

    response = su.post(
        reverse(CHANGELIST),
        {
            "action": "promote_versions",
            "_selected_action": [promotable.pk],
            "confirm": "yes",
            "reason": "quarterly release",
        },
    )
    assert response.status_code == 302
    assert stage_of(promotable) == Stage.PRODUCTION
    assert f"{promotable}: promoted to production." in message_texts(response)

    def shape(event: AuditEvent) -> dict:
        return {
            "actor_id": event.actor_id,
            "actor_username": event.actor_username,
            "reason": event.reason,
            "from_stage": event.from_stage,
            "to_stage": event.to_stage,
            "object_type": event.object_type,
            "payload_keys": sorted(event.payload),
        }

    via_admin = AuditEvent.objects.get(action=Action.VERSION_PROMOTED, model_version=promotable)
    via_service = AuditEvent.objects.get(action=Action.VERSION_PROMOTED, model_version=direct)
    assert shape(via_admin) == shape(via_service)
    assert shape(via_admin)["actor_username"] == "admin_user"
    assert (via_admin.from_stage, via_admin.to_stage) == (Stage.STAGING, Stage.PRODUCTION)
    history = ModelVersion.history.filter(id=promotable.pk).latest("history_date")
    assert (history.history_username, history.history_change_reason) == (
        "admin_user",
        "quarterly release",
    )


def test_promote_action_with_failing_guards_reports_each_reason(su, people, model):
    services.policy_update(
        actor=people.admin, model=model, thresholds=[{"metric": "accuracy", "min": 0.9}]
    )
    weak = register(actor=people.author, model=model, version="1.0.0", metrics={"accuracy": 0.5})
    failures = [r.reason for r in selectors.promotion_checks(version=weak) if not r.passed]
    assert len(failures) >= 2  # the threshold and the missing review at least

    response = su.post(
        reverse(CHANGELIST),
        {
            "action": "promote_versions",
            "_selected_action": [weak.pk],
            "confirm": "yes",
            "reason": "try it",
        },
    )
    assert response.status_code == 302
    texts = " ".join(message_texts(response))
    assert "accuracy 0.5 < required 0.9" in texts
    for reason in failures:
        assert reason in texts
    assert stage_of(weak) == Stage.STAGING
    assert not AuditEvent.objects.filter(action=Action.VERSION_PROMOTED).exists()


def test_archive_and_deprecate_actions_report_each_object(su, people, model, promote):
    live = promote(model, "1.0.0")
    staged = register(actor=people.author, model=model, version="1.1.0")
    response = su.post(
        reverse(CHANGELIST),
        {
            "action": "deprecate_versions",
            "_selected_action": [live.pk, staged.pk],
            "confirm": "yes",
            "reason": "superseded design",
        },
    )
    texts = message_texts(response)
    assert f"{staged}: deprecated." in texts
    assert any("in stage 'production'" in text for text in texts)
    assert (stage_of(live), stage_of(staged)) == (Stage.PRODUCTION, Stage.DEPRECATED)

    su.post(
        reverse(CHANGELIST),
        {
            "action": "archive_versions",
            "_selected_action": [live.pk],
            "confirm": "yes",
            "reason": "retired",
        },
    )
    assert stage_of(live) == Stage.ARCHIVED
    event = AuditEvent.objects.get(action=Action.VERSION_ARCHIVED, model_version=live)
    assert (event.actor_username, event.reason) == ("admin_user", "retired")


def test_rollback_action_restores_last_known_good(su, people, model, promote):
    first = promote(model, "1.0.0")
    second = promote(model, "1.1.0")
    changelist = admin_url("models_app_registeredmodel_changelist")
    page = su.post(
        changelist, {"action": "rollback_models", "index": "0", "_selected_action": [model.pk]}
    )
    assert page.status_code == 200
    assert b"would restore: 1.0.0" in page.content
    response = su.post(
        changelist,
        {
            "action": "rollback_models",
            "_selected_action": [model.pk],
            "confirm": "yes",
            "reason": "latency spike",
        },
    )
    assert response.status_code == 302
    assert (stage_of(first), stage_of(second)) == (Stage.PRODUCTION, Stage.ROLLED_BACK)
    event = AuditEvent.objects.get(action=Action.VERSION_ROLLED_BACK)
    assert (event.actor_username, event.reason) == ("admin_user", "latency spike")

    again = su.post(
        changelist,
        {
            "action": "rollback_models",
            "_selected_action": [model.pk],
            "confirm": "yes",
            "reason": "again",
        },
    )
    assert any("Cannot roll back" in text for text in message_texts(again))


def test_rollback_action_needs_the_rollback_permission(client, people, model, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    staff = make_user("staff_contrib", "contributor")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    client.post(
        admin_url("models_app_registeredmodel_changelist"),
        {
            "action": "rollback_models",
            "_selected_action": [model.pk],
            "confirm": "yes",
            "reason": "x",
        },
    )
    assert selectors.production_version(model=model).version == "1.1.0"


def test_check_promotion_action_lists_guards_without_changing(su, people, model, promotable):
    weak = register(actor=people.author, model=model, version="0.9.0")
    response = su.post(
        reverse(CHANGELIST),
        {"action": "check_promotion", "index": "0", "_selected_action": [promotable.pk, weak.pk]},
    )
    texts = message_texts(response)
    assert any(text.startswith(f"{promotable}: every guard passes") for text in texts)
    assert any(text.startswith(f"{weak}: promotion would be refused") for text in texts)
    assert (stage_of(promotable), stage_of(weak)) == (Stage.STAGING, Stage.STAGING)
    page = su.get(admin_url("models_app_modelversion_change", weak.pk))
    assert b"promotion checks (dry run)" in page.content.lower()
    assert b"FAIL" in page.content


# --- History is read-only --------------------------------------------------------------------


def test_history_revert_post_of_production_snapshot_is_refused(su, people, model, promote):
    first = promote(model, "1.0.0")
    promote(model, "1.1.0")
    assert stage_of(first) == Stage.ARCHIVED
    snapshot = ModelVersion.history.filter(id=first.pk, stage=Stage.PRODUCTION).latest(
        "history_date"
    )
    url = admin_url("models_app_modelversion_simple_history", first.pk, snapshot.history_id)
    rows_before = ModelVersion.history.count()

    page = su.get(url)
    assert page.status_code == 200
    assert page.context["original"].stage == Stage.PRODUCTION  # the snapshot, shown read-only
    assert not page.context["adminform"].form.fields
    assert b'name="_save"' not in page.content

    response = su.post(
        url,
        {
            "description": snapshot.description,
            "tags": "{}",
            "stage": Stage.PRODUCTION,
            "_save": "Revert",
        },
    )
    assert response.status_code == 405
    assert stage_of(first) == Stage.ARCHIVED
    assert selectors.production_version(model=model).version == "1.1.0"
    assert ModelVersion.history.count() == rows_before


def test_card_history_revert_post_is_refused(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.card_update(actor=people.author, version=mv, sections={"limitations": "changed"})
    card = ModelCard.objects.get(model_version=mv)
    current = card.current_revision_id
    older = ModelCard.history.filter(id=card.pk).order_by("history_date")[1]
    assert older.current_revision_id != current
    url = admin_url("approvals_app_modelcard_simple_history", card.pk, older.history_id)

    assert su.get(url).status_code == 200
    response = su.post(url, {**FULL_CARD, "current_revision": older.current_revision_id})
    assert response.status_code == 405
    assert ModelCard.objects.get(pk=card.pk).current_revision_id == current


# --- Evidence cannot be changed or deleted ----------------------------------------------------


def test_audit_events_cannot_be_added_changed_or_deleted(su, people, model):
    event = AuditEvent.objects.filter(action=Action.MODEL_CREATED).get()
    change = admin_url("models_app_auditevent_change", event.pk)
    assert su.get(change).status_code == 200  # view only
    assert su.post(change, {"reason": "rewritten", "actor_username": "x"}).status_code == 403
    delete = admin_url("models_app_auditevent_delete", event.pk)
    assert su.get(delete).status_code == 403
    assert su.post(delete, {"post": "yes"}).status_code == 403
    assert su.get(admin_url("models_app_auditevent_add")).status_code == 403
    bulk = su.post(
        admin_url("models_app_auditevent_changelist"),
        {"action": "delete_selected", "index": "0", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert (event.actor_username, event.reason) == ("author", "")


def test_history_rows_cannot_be_changed_or_deleted(su, people, model):
    row = RegisteredModel.history.get(id=model.pk)
    change = admin_url("models_app_historicalregisteredmodel_change", row.history_id)
    assert su.get(change).status_code == 200
    assert su.post(change, {"history_username": "someone"}).status_code == 403
    delete = admin_url("models_app_historicalregisteredmodel_delete", row.history_id)
    assert su.post(delete, {"post": "yes"}).status_code == 403
    assert su.get(admin_url("models_app_historicalregisteredmodel_add")).status_code == 403
    assert RegisteredModel.history.get(history_id=row.history_id).history_username == "author"


def test_users_cannot_be_deleted_in_admin(su, people):
    url = admin_url("auth_user_delete", people.author.pk)
    assert su.get(url).status_code == 403
    assert su.post(url, {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=people.author.pk).exists()
    page = su.get(admin_url("auth_user_change", people.author.pk))
    assert b"never deleted" in page.content


@pytest.mark.parametrize(
    "name",
    [
        "models_app_modelversion",
        "models_app_registeredmodel",
        "models_app_team",
        "models_app_promotionpolicy",
        "approvals_app_modelcard",
        "approvals_app_cardrevision",
        "approvals_app_review",
    ],
)
def test_registry_objects_cannot_be_deleted_in_admin(su, people, model, promote, name):
    live = promote(model, "1.0.0")
    policy = services.policy_update(actor=people.admin, model=model, required_approvals=1)
    card = ModelCard.objects.get(model_version=live)
    objects = {
        "models_app_modelversion": live,
        "models_app_registeredmodel": model,
        "models_app_team": people.team,
        "models_app_promotionpolicy": policy,
        "approvals_app_modelcard": card,
        "approvals_app_cardrevision": card.current_revision,
        "approvals_app_review": Review.objects.get(model_version=live),
    }
    obj = objects[name]
    url = admin_url(f"{name}_delete", obj.pk)
    assert su.get(url).status_code == 403
    assert su.post(url, {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


# --- Add and change forms call the services ---------------------------------------------------


def test_model_add_and_change_go_through_services(su, people):
    response = su.post(
        admin_url("models_app_registeredmodel_add"),
        {"name": "churn", "team": people.team.pk, "description": "d", "tags": '{"a": "b"}'},
    )
    assert response.status_code == 302
    model = RegisteredModel.objects.get(name="churn")
    created = AuditEvent.objects.get(action=Action.MODEL_CREATED, registered_model=model)
    assert created.actor_username == "admin_user"
    assert model.tags == {"a": "b"}

    response = su.post(
        admin_url("models_app_registeredmodel_change", model.pk),
        {"description": "new words", "tags": "{}", "name": "renamed", "team": people.other_team.pk},
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.name, model.team_id, model.description) == ("churn", people.team.pk, "new words")
    assert AuditEvent.objects.filter(action=Action.MODEL_CHANGED, registered_model=model).exists()


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"name": "../etc"}, "name", "A model name is"),
        ({"tags": '{"a": 1}'}, "tags", "must have a string value"),
        ({"tags": "{not json"}, "tags", "Enter a valid JSON"),
        ({"description": "bidi \u202e trick"}, "description", "bidirectional"),
    ],
)
def test_model_add_bad_input_shows_form_error(su, people, data, field, fragment):
    response = su.post(
        admin_url("models_app_registeredmodel_add"),
        {"name": "ok_name", "team": people.team.pk, "description": "", "tags": "", **data},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(fragment in text for text in errors[field])
    assert not AuditEvent.objects.filter(action=Action.MODEL_CREATED, model_name="ok_name").exists()


def test_model_add_duplicate_name_shows_form_error(su, people, model):
    response = su.post(
        admin_url("models_app_registeredmodel_add"),
        {"name": model.name, "team": people.team.pk, "description": "", "tags": ""},
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.non_field_errors())


def version_form(model, **overrides) -> dict:
    data = {
        "registered_model": model.pk,
        "version": "2.0.0",
        "description": "",
        "metrics": '{"accuracy": 0.93}',
        "params": '{"max_depth": 6}',
        "tags": "",
        "artifact_uri": "s3://models/fraud/2.0.0/model.pkl",
        "artifact_sha256": "",
        "artifact_size": "",
        "data_version": "ds-2026-11",
        "code_version": "abc123",
        "source_run": "run-7",
    }
    data.update(overrides)
    return data


def test_version_add_registers_through_the_service(su, people, model):
    response = su.post(admin_url("models_app_modelversion_add"), version_form(model))
    assert response.status_code == 302
    mv = ModelVersion.objects.get(registered_model=model, version="2.0.0")
    assert (mv.stage, mv.number, mv.metrics, mv.params) == (
        Stage.STAGING,
        1,
        {"accuracy": 0.93},
        {"max_depth": 6},
    )
    assert mv.created_by == people.admin
    event = AuditEvent.objects.get(action=Action.VERSION_REGISTERED, model_version=mv)
    assert event.actor_username == "admin_user"
    assert ModelCard.objects.filter(model_version=mv).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"version": "1.0"}, "version", "not a SemVer"),
        ({"version": "01.0.0"}, "version", "not a SemVer"),
        ({"metrics": '{"accuracy": NaN}'}, "metrics", "finite"),
        ({"metrics": '{"accuracy": Infinity}'}, "metrics", "finite"),
        ({"metrics": '{"accuracy": "high"}'}, "metrics", "must be a number"),
        ({"metrics": '{"accuracy": true}'}, "metrics", "must be a number"),
        # Deep enough to exhaust every Python version's json parser (3.13 parses 5,000).
        ({"metrics": "[" * 100000}, "metrics", "nested too deeply"),
        ({"artifact_uri": "s3://bucket/../../etc/passwd"}, "artifact_uri", ""),
        ({"artifact_uri": "file:///etc/shadow"}, "artifact_uri", ""),
        ({"artifact_uri": "https://h/a/%2e%2e/%2e%2e/etc"}, "artifact_uri", ""),
        ({"artifact_uri": "s3://b/..%c0%af..%c0%afetc"}, "artifact_uri", "not valid UTF-8"),
        ({"artifact_uri": "s3://b/model%80.pkl"}, "artifact_uri", "not valid UTF-8"),
        (
            {"artifact_uri": "registry:/artifacts/price_optimizer/1.0.0/x"},
            "artifact_uri",
            "made only by the registry",
        ),
        ({"params": '{"a\\u0000b": 1}'}, "params", "NUL"),
        ({"artifact_sha256": "xyz"}, "artifact_sha256", ""),
    ],
)
def test_version_add_bad_input_shows_form_error(su, model, overrides, field, fragment):
    response = su.post(admin_url("models_app_modelversion_add"), version_form(model, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors[field]
    assert any(fragment in text for text in errors[field])
    assert not ModelVersion.objects.filter(registered_model=model).exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"accuracy": ' + "1" * 5000 + "}", "valid JSON"),  # too many digits to convert
        ("[" * 100000, "nested too deeply"),
        ('{"accuracy": ', "valid JSON"),
    ],
)
def test_version_add_bad_json_is_a_form_error_and_shown_as_typed(su, model, text, fragment):
    response = su.post(admin_url("models_app_modelversion_add"), version_form(model, metrics=text))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any(fragment in error for error in form.errors["metrics"])
    assert form["metrics"].value() == text
    assert not ModelVersion.objects.filter(registered_model=model).exists()


def test_version_change_form_shows_stored_json(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0", tags={"team": "é"})
    response = su.get(admin_url("models_app_modelversion_change", mv.pk))
    assert response.status_code == 200
    assert html.escape('{"team": "é"}') in response.content.decode()


def test_version_add_duplicate_version_shows_form_error(su, people, model):
    register(actor=people.author, model=model, version="2.0.0")
    response = su.post(admin_url("models_app_modelversion_add"), version_form(model))
    assert response.status_code == 200
    assert "already has a version" in str(response.context["adminform"].form.non_field_errors())


def test_version_change_edits_only_description_and_tags(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    response = su.post(
        admin_url("models_app_modelversion_change", mv.pk),
        {
            "description": "calibrated",
            "tags": '{"owner": "fraud"}',
            "version": "9.9.9",
            "stage": "production",
            "metrics": '{"accuracy": 1.0}',
            "artifact_uri": "s3://elsewhere/x",
        },
    )
    assert response.status_code == 302
    mv = ModelVersion.objects.get(pk=mv.pk)
    assert (mv.version, mv.stage, mv.metrics, mv.artifact_uri) == (
        "1.0.0",
        Stage.STAGING,
        {"accuracy": 0.95},
        "",
    )
    assert (mv.description, mv.tags) == ("calibrated", {"owner": "fraud"})
    event = AuditEvent.objects.get(action=Action.VERSION_CHANGED, model_version=mv)
    assert event.changes["description"] == ["", "calibrated"]


def test_version_change_bad_tags_shows_form_error(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    response = su.post(
        admin_url("models_app_modelversion_change", mv.pk),
        {"description": "", "tags": '{"k": ["not", "a", "string"]}'},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tags"]


def policy_form(**overrides) -> dict:
    data = {
        "registered_model": "",
        "thresholds": '[{"metric": "accuracy", "min": 0.9}]',
        "key_metrics": '[{"metric": "f1", "direction": "higher", "tolerance": 0.01}]',
        "required_approvals": "2",
        "required_card_sections": ["intended_use", "evaluation"],
        "reason": "tighter bar",
    }
    data.update(overrides)
    return data


def test_policy_add_and_change_go_through_policy_update(su, people, model):
    response = su.post(
        admin_url("models_app_promotionpolicy_add"), policy_form(registered_model=model.pk)
    )
    assert response.status_code == 302
    policy = selectors.effective_policy(model=model)
    assert policy.registered_model_id == model.pk
    assert policy.thresholds == [{"metric": "accuracy", "min": 0.9}]
    assert (policy.required_approvals, policy.required_card_sections) == (
        2,
        ["intended_use", "evaluation"],
    )
    event = AuditEvent.objects.get(action=Action.POLICY_CHANGED)
    assert (event.actor_username, event.reason) == ("admin_user", "tighter bar")

    response = su.post(
        admin_url("models_app_promotionpolicy_change", policy.pk),
        policy_form(thresholds="", required_approvals="1", reason="relax", require_checksum="on"),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.thresholds, policy.required_approvals, policy.require_checksum) == ([], 1, True)
    assert AuditEvent.objects.filter(action=Action.POLICY_CHANGED).count() == 2


def test_policy_add_site_default_then_duplicate_is_refused(su, people):
    assert su.post(admin_url("models_app_promotionpolicy_add"), policy_form()).status_code == 302
    assert PromotionPolicy.objects.get(is_site_default=True).required_approvals == 2
    again = su.post(admin_url("models_app_promotionpolicy_add"), policy_form())
    assert again.status_code == 200
    assert again.context["adminform"].form.errors["registered_model"]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"thresholds": "[{"}, "thresholds", "Enter a valid JSON"),
        (
            {"thresholds": '[{"metric": "accuracy", "min": 0.9, "max": 1}]'},
            "thresholds",
            "exactly one of min or max",
        ),
        ({"thresholds": '{"accuracy": 0.9}'}, "thresholds", "must be a list"),
        ({"thresholds": '[{"metric": "accuracy", "min": NaN}]'}, "thresholds", ""),
        ({"key_metrics": '[{"metric": "f1", "direction": "up"}]'}, "key_metrics", "direction"),
        ({"key_metrics": '[{"metric": "f1", "tolerance": -1}]'}, "key_metrics", "negative"),
        ({"required_approvals": "11"}, "required_approvals", ""),
        ({"required_card_sections": ["nonsense"]}, "required_card_sections", ""),
    ],
)
def test_policy_bad_input_shows_form_error(su, model, overrides, field, fragment):
    response = su.post(
        admin_url("models_app_promotionpolicy_add"),
        policy_form(registered_model=model.pk, **overrides),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(fragment in text for text in errors[field])
    assert not PromotionPolicy.objects.exists()


def test_card_change_writes_a_revision_through_card_update(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    card = ModelCard.objects.get(model_version=mv)
    url = admin_url("approvals_app_modelcard_change", card.pk)
    response = su.post(url, {**FULL_CARD, "reason": "filled in"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.current_revision.number == 2
    assert card.current_revision.sections() == FULL_CARD
    event = AuditEvent.objects.get(action=Action.CARD_EDITED, model_version=mv)
    assert (event.actor_username, event.reason) == ("admin_user", "filled in")

    page = su.get(url)
    assert page.context["adminform"].form["evaluation"].value() == FULL_CARD["evaluation"]

    bad = su.post(url, {**FULL_CARD, "limitations": "nul \x00 here"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors
    assert CardRevision.objects.filter(card=card).count() == 2


def test_card_change_of_deprecated_version_is_refused_in_form(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    services.model_version_deprecate(actor=people.release, version=mv, reason="dead end")
    card = ModelCard.objects.get(model_version=mv)
    response = su.post(admin_url("approvals_app_modelcard_change", card.pk), FULL_CARD)
    assert response.status_code == 200
    assert "deprecated" in str(response.context["adminform"].form.non_field_errors())


def shown_sha256(response) -> str:
    """The card revision sha256 the rendered review form carries in its hidden field."""
    match = re.search(r'name="revision_sha256" value="([^"]*)"', response.content.decode())
    assert match, "the review form carries no revision sha256"
    return match.group(1)


def shown_version(response) -> str:
    match = re.search(r'name="shown_version" value="([^"]*)"', response.content.decode())
    assert match
    return match.group(1)


def test_review_add_goes_through_review_submit(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    url = admin_url("approvals_app_review_add")
    refused = su.post(url, {"model_version": mv.pk, "decision": "reject", "comment": ""})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["comment"]

    page = su.get(f"{url}?model_version={mv.pk}")
    sha = shown_sha256(page)
    assert sha == current_sha256(mv)
    response = su.post(
        url,
        {
            "model_version": mv.pk,
            "decision": "approve",
            "comment": "ok",
            "revision_sha256": sha,
            "shown_version": shown_version(page),
        },
    )
    assert response.status_code == 302
    review = Review.objects.get(model_version=mv)
    assert (review.reviewer, review.revision.number) == (people.admin, 2)
    assert review.revision_sha256 == sha
    event = AuditEvent.objects.get(action=Action.REVIEW_SUBMITTED, model_version=mv)
    assert event.actor_username == "admin_user"


def test_review_add_form_shows_the_revision_it_binds_to(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(
        actor=people.author, version=mv, sections={**FULL_CARD, "evaluation": "AUC 0.97 <b>ok</b>"}
    )
    revision = ModelCard.objects.get(model_version=mv).current_revision
    page = su.get(f"{admin_url('approvals_app_review_add')}?model_version={mv.pk}")
    html = page.content.decode()
    assert "Revision <strong>2</strong> by author" in html
    assert f"<code>{revision.sha256}</code>" in html
    assert admin_url("approvals_app_cardrevision_change", revision.pk) in html
    assert "AUC 0.97 <b>ok</b>" in html  # the content itself, rendered and sanitised
    assert (shown_sha256(page), shown_version(page)) == (revision.sha256, str(mv.pk))
    # The card's own admin page links to this form.
    card_page = su.get(admin_url("approvals_app_modelcard_change", revision.card_id))
    assert f"?model_version={mv.pk}" in card_page.content.decode()


def test_review_add_approval_without_a_revision_shown_asks_to_read_it_first(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    url = admin_url("approvals_app_review_add")
    first = su.post(url, {"model_version": mv.pk, "decision": "approve", "comment": ""})
    assert first.status_code == 200
    errors = str(first.context["adminform"].form.non_field_errors())
    assert "read the revision shown below, then save again" in errors
    assert not Review.objects.exists()
    # The form now shows revision 2 and binds to it; saving again approves it.
    assert "Revision <strong>2</strong>" in first.content.decode()
    assert shown_sha256(first) == current_sha256(mv)
    second = su.post(
        url,
        {
            "model_version": mv.pk,
            "decision": "approve",
            "comment": "",
            "revision_sha256": shown_sha256(first),
            "shown_version": shown_version(first),
        },
    )
    assert second.status_code == 302
    assert Review.objects.get(model_version=mv).revision.number == 2


def test_review_add_refuses_a_card_edited_after_the_form_was_shown(su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    url = admin_url("approvals_app_review_add")
    page = su.get(f"{url}?model_version={mv.pk}")
    approvals.card_update(actor=people.author, version=mv, sections={"evaluation": "Swapped."})
    current = current_sha256(mv)
    response = su.post(
        url,
        {
            "model_version": mv.pk,
            "decision": "approve",
            "comment": "",
            "revision_sha256": shown_sha256(page),
            "shown_version": shown_version(page),
        },
    )
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.non_field_errors())
    assert "the current revision is 3" in errors
    assert current in errors
    assert not Review.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).exists()
    # Shown again, the form shows revision 3 and is bound to it, not to the stale one.
    assert "Swapped." in response.content.decode()
    assert shown_sha256(response) == current


def test_review_add_refuses_a_version_other_than_the_one_shown(su, people, model):
    shown = register(actor=people.author, model=model, version="1.0.0")
    other = register(actor=people.author, model=model, version="2.0.0")
    for mv in (shown, other):  # the same content: equal sha256s
        approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    url = admin_url("approvals_app_review_add")
    page = su.get(f"{url}?model_version={shown.pk}")
    response = su.post(
        url,
        {
            "model_version": other.pk,
            "decision": "approve",
            "comment": "",
            "revision_sha256": shown_sha256(page),
            "shown_version": shown_version(page),
        },
    )
    assert response.status_code == 200
    assert "The card shown was of another version" in str(
        response.context["adminform"].form.non_field_errors()
    )
    assert not Review.objects.exists()
    assert shown_version(response) == str(other.pk)


def test_review_add_by_version_author_is_refused_in_form(client, people, model):
    author_admin = make_user("author_admin", superuser=True)
    mv = register(actor=author_admin, model=model, version="1.0.0")
    client.force_login(author_admin)
    response = client.post(
        admin_url("approvals_app_review_add"),
        {
            "model_version": mv.pk,
            "decision": "approve",
            "comment": "",
            "revision_sha256": current_sha256(mv),
            "shown_version": str(mv.pk),
        },
    )
    assert response.status_code == 200
    assert "Authors cannot review" in str(response.context["adminform"].form.non_field_errors())
    assert not Review.objects.exists()


@pytest.mark.parametrize("text", ["x\x1b[2J\x1b[32mok", "x\u202etxt.exe", "x\x9b1m"])
def test_card_reason_and_review_comment_with_control_characters_are_refused(
    su, people, model, text
):
    mv = register(actor=people.author, model=model, version="1.0.0")
    card = ModelCard.objects.get(model_version=mv)
    response = su.post(
        admin_url("approvals_app_modelcard_change", card.pk), {**FULL_CARD, "reason": text}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["reason"]
    assert CardRevision.objects.filter(card=card).count() == 1
    response = su.post(
        admin_url("approvals_app_review_add"),
        {"model_version": mv.pk, "decision": "reject", "comment": text},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["comment"]
    assert not Review.objects.exists()


def test_team_add_and_membership_changes_go_through_services(su, people):
    response = su.post(
        admin_url("models_app_team_add"),
        {
            "name": "Risk",
            "slug": "risk",
            "description": "",
            "members": [people.author.pk, people.viewer.pk],
        },
    )
    assert response.status_code == 302
    team = Team.objects.get(slug="risk")
    assert set(team.members.all()) == {people.author, people.viewer}
    page = su.get(admin_url("models_app_team_change", team.pk))
    shown = page.context["adminform"].form["members"].value()
    assert sorted(shown) == sorted([people.author.pk, people.viewer.pk])
    assert AuditEvent.objects.filter(action=Action.TEAM_CREATED, team=team).count() == 1
    assert AuditEvent.objects.filter(action=Action.MEMBER_ADDED, team=team).count() == 2

    response = su.post(
        admin_url("models_app_team_change", team.pk),
        {"name": "Risk team", "description": "d", "members": [people.viewer.pk], "slug": "x"},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.slug) == ("Risk team", "risk")
    assert list(team.members.all()) == [people.viewer]
    removed = AuditEvent.objects.get(action=Action.MEMBER_REMOVED, team=team)
    assert removed.payload == {"user": "author"}

    duplicate = su.post(
        admin_url("models_app_team_add"), {"name": "Risk team", "slug": "risk2", "description": ""}
    )
    assert duplicate.status_code == 200
    assert "already exists" in str(duplicate.context["adminform"].form.non_field_errors())


# --- Changelists: the query count does not grow with the rows ---------------------------------


@pytest.fixture
def _queries(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client, url: str) -> int:
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    return count


@pytest.mark.parametrize(
    "name",
    [
        "models_app_modelversion_changelist",
        "models_app_auditevent_changelist",
        "models_app_registeredmodel_changelist",
        "approvals_app_modelcard_changelist",
        "approvals_app_review_changelist",
        "models_app_historicalmodelversion_changelist",
    ],
)
def test_changelist_query_count_does_not_grow_with_rows(_queries, su, people, model, name):
    url = admin_url(name)
    mv = register(actor=people.author, model=model, version="0.0.1")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approve(mv, reviewer=people.reviewer)
    su.get(url)  # warm caches (content types, permissions) out of the count
    one = _queries(su, url)
    for i in range(2, 31):
        other = make_model(actor=people.author, team=people.team, name=f"m{i}")
        mv = register(actor=people.author, model=other, version=f"0.0.{i}")
        approve(mv, reviewer=people.reviewer)
    many = _queries(su, url)
    assert many == one


def test_history_page_query_count_does_not_grow_with_rows(_queries, su, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    url = admin_url("models_app_modelversion_history", mv.pk)
    services.model_version_update(actor=people.author, version=mv, description="v1")
    su.get(url)  # warm caches out of the count
    one = _queries(su, url)
    for i in range(2, 31):
        services.model_version_update(actor=people.author, version=mv, description=f"v{i}")
    many = _queries(su, url)
    assert many == one
    page = su.get(url)
    assert b"author" in page.content
    assert b"Revert" not in page.content


# --- Permission matrix: every role × every transition action, through the admin -------------

ROLES = ["viewer", "contributor", "reviewer", "release_manager", "admin"]
ALLOWED = {"release_manager", "admin"}


def _staff(people, role: str) -> User:
    if role == "admin":
        return people.admin
    user = make_user(f"staff_{role}", role)
    services.team_member_add(actor=people.admin, team=people.team, user=user)
    user.is_staff = True
    user.save()
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("action", "to_stage"),
    [
        ("promote_versions", Stage.PRODUCTION),
        ("archive_versions", Stage.ARCHIVED),
        ("deprecate_versions", Stage.DEPRECATED),
    ],
)
def test_version_action_matrix(client, people, promotable, role, action, to_stage):
    client.force_login(_staff(people, role))
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [promotable.pk], "confirm": "yes", "reason": "r"},
    )
    assert response.status_code in (200, 302)
    expected = to_stage if role in ALLOWED else Stage.STAGING
    assert stage_of(promotable) == expected
    events = AuditEvent.objects.filter(model_version=promotable, to_stage=to_stage)
    assert events.count() == (1 if role in ALLOWED else 0)


@pytest.mark.parametrize("role", ROLES)
def test_rollback_action_matrix(client, people, model, promote, role):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    client.force_login(_staff(people, role))
    client.post(
        admin_url("models_app_registeredmodel_changelist"),
        {
            "action": "rollback_models",
            "_selected_action": [model.pk],
            "confirm": "yes",
            "reason": "r",
        },
    )
    expected = "1.0.0" if role in ALLOWED else "1.1.0"
    assert selectors.production_version(model=model).version == expected
