"""One path: the same promotion through every door leaves the same audit record.

The service called directly, the Django admin's action, the REST API, the dashboard's
form and the MLflow-compatible endpoint all end in models_app.services; this test
shows they leave identical audit events and history rows (only the request id differs),
and that a refused promotion gets the same status and the same words through each door
(models_app.errors).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from knox.models import AuthToken

from models_app import services
from models_app.exceptions import GuardsFailed
from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_promotable, register

REASON = "Quarterly retrain passed every check."


def _via_service(client, people, mv):
    services.model_version_promote(actor=people.release, version=mv, reason=REASON)


def _via_admin(client, people, mv):
    User.objects.filter(pk=people.release.pk).update(is_staff=True)
    client.force_login(User.objects.get(pk=people.release.pk))
    response = client.post(
        "/admin/models_app/modelversion/",
        {
            "action": "promote_versions",
            "_selected_action": [mv.pk],
            "confirm": "yes",
            "reason": REASON,
        },
    )
    assert response.status_code in (200, 302)


def _via_api(client, people, mv):
    token = AuthToken.objects.create(people.release)[1]
    response = client.post(
        f"/api/v1/models/{mv.registered_model.name}/versions/{mv.version}/promote/",
        data=json.dumps({"reason": REASON}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 200, response.content


def _via_dashboard(client, people, mv):
    client.force_login(people.release)
    response = client.post(
        f"/models/{mv.registered_model.name}/versions/{mv.version}/promote/",
        {"promote-reason": REASON},
    )
    assert response.status_code in (200, 302)


def _via_mlflow(client, people, mv):
    token = AuthToken.objects.create(people.release)[1]
    response = client.post(
        "/api/2.0/mlflow/model-versions/transition-stage",
        data=json.dumps(
            {
                "name": mv.registered_model.name,
                "version": str(mv.number),
                "stage": "Production",
                "archive_existing_versions": True,
                "comment": REASON,
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content


DOORS = {
    "service": _via_service,
    "admin": _via_admin,
    "api": _via_api,
    "dashboard": _via_dashboard,
    "mlflow": _via_mlflow,
}


def _record(mv_new: ModelVersion, mv_old: ModelVersion, since: int) -> dict:
    events = [
        (
            e.action,
            e.actor_id,
            e.actor_username,
            e.model_name,
            e.version_label,
            e.from_stage,
            e.to_stage,
            e.reason,
            sorted(e.payload),
        )
        # The model's events only: the API and MLflow doors also record the token they
        # sign in with (token.created), which is about the caller, not the promotion.
        for e in AuditEvent.objects.filter(pk__gt=since, registered_model__isnull=False).order_by(
            "id"
        )
    ]
    history = [
        (h.history_username, h.history_change_reason, h.stage)
        for mv in (mv_old, mv_new)
        for h in [mv.history.order_by("-history_id").first()]
    ]
    return {"events": events, "history": history}


@pytest.mark.parametrize("door", DOORS)
def test_promotion_through_each_door_leaves_the_same_audit_record(
    door, client, people, model, promote
):
    old = promote(model, "1.0.0")
    new = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(new, author=people.author, reviewer=people.reviewer)
    since = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    DOORS[door](client, people, new)

    record = _record(new, old, since)
    assert record == {
        "events": [
            (
                "version.archived",
                people.release.pk,
                "release",
                "fraud_detector",
                "1.0.0",
                "production",
                "archived",
                f"superseded by 1.1.0: {REASON}",
                ["superseded_by"],
            ),
            (
                "version.promoted",
                people.release.pk,
                "release",
                "fraud_detector",
                "1.1.0",
                "staging",
                "production",
                REASON,
                ["checks", "previous"],
            ),
        ],
        "history": [
            ("release", f"superseded by 1.1.0: {REASON}", "archived"),
            ("release", REASON, "production"),
        ],
    }


def _refused_via_admin(client, people, mv) -> tuple[int | None, str]:
    User.objects.filter(pk=people.release.pk).update(is_staff=True)
    client.force_login(User.objects.get(pk=people.release.pk))
    response = client.post(
        "/admin/models_app/modelversion/",
        {
            "action": "promote_versions",
            "_selected_action": [mv.pk],
            "confirm": "yes",
            "reason": REASON,
        },
    )
    assert response.status_code in (200, 302)
    # The admin reports each object's refusal as a message that names the object.
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    prefix = f"{mv}: "
    assert len(texts) == 1 and texts[0].startswith(prefix), texts
    return None, texts[0].removeprefix(prefix)


def _refused_via_api(client, people, mv) -> tuple[int | None, str]:
    token = AuthToken.objects.create(people.release)[1]
    response = client.post(
        f"/api/v1/models/{mv.registered_model.name}/versions/{mv.version}/promote/",
        data=json.dumps({"reason": REASON}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    error = response.json()["error"]
    assert error["code"] == "guards_failed"
    assert [d["guard"] for d in error["details"] if not d["passed"]] == ["review", "model_card"]
    return response.status_code, error["message"]


def _refused_via_dashboard(client, people, mv) -> tuple[int | None, str]:
    client.force_login(people.release)
    page = f"/models/{mv.registered_model.name}/versions/{mv.version}/"
    response = client.post(page + "promote/", {"promote-reason": REASON}, follow=True)
    # Post/Redirect/Get: the version page shows the refusal once, in its panel and the
    # checklist it points to; not again in the messages.
    assert response.redirect_chain == [(page, 302)]
    assert not [str(m) for m in response.context["messages"]]
    page_html = response.content.decode()
    assert "Promotion was refused: 2 checks failed." in page_html
    # Each reason is said once, on the checklist the refusal's panel points to.
    reasons = re.findall(
        r'<li class="check check-fail"[^>]*>.*?<span class="reason">([^<]*)</span>', page_html, re.S
    )
    assert all(page_html.count(reason) == 1 for reason in reasons)
    return response.status_code, "Promotion refused: " + "; ".join(map(html.unescape, reasons))


def _refused_via_mlflow(client, people, mv) -> tuple[int | None, str]:
    token = AuthToken.objects.create(people.release)[1]
    response = client.post(
        "/api/2.0/mlflow/model-versions/transition-stage",
        data=json.dumps(
            {
                "name": mv.registered_model.name,
                "version": str(mv.number),
                "stage": "Production",
                "archive_existing_versions": True,
                "comment": REASON,
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    body = response.json()
    assert body["error_code"] == "INVALID_STATE"
    return response.status_code, body["message"]


REFUSED = {
    "admin": _refused_via_admin,
    "api": _refused_via_api,
    "dashboard": _refused_via_dashboard,
    "mlflow": _refused_via_mlflow,
}


@pytest.mark.parametrize("door", REFUSED)
def test_a_refused_promotion_gets_the_same_answer_through_each_door(door, client, people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")  # no card, no approval
    with pytest.raises(GuardsFailed) as refused:
        services.model_version_promote(actor=people.release, version=mv, reason=REASON)

    status, message = REFUSED[door](client, people, mv)

    assert message == refused.value.message
    assert message.startswith(
        "Promotion refused: review not requested: card revision 1 needs 1 approval"
    )
    # The admin's action answers the list page; the others answer with the refusal's status.
    assert status == (None if door == "admin" else 409)
    assert ModelVersion.objects.get(pk=mv.pk).stage == "staging"
