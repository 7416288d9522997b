"""The dashboard never misleads: metric colours follow declared directions only, the
checklist appears only where a promotion is possible, a promotion that would be refused
has no live button, and deprecating asks for a confirmation first."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from models_app import services
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion, PromotionPolicy
from tests.dashboard.conftest import version_url
from tests.factories import make_model, make_promotable, register


def stage_of(mv) -> str:
    return ModelVersion.objects.get(pk=mv.pk).stage


def cell(html: str, label: str, version: str = "1.2.0") -> str:
    """The versions table's cell of `version` headed `label` (its data-label), as HTML."""
    table = html.split('class="data versions-table"')[1]
    row = next(r for r in table.split("<tr") if f">{version}</a>" in r)
    match = re.search(rf'<td data-label="{re.escape(label)}" class="num">(.*?)</td>', row, re.S)
    assert match, f"no {label} cell"
    return match.group(1)


@pytest.fixture
def pricing(people, promote):
    """A model like the demo's price_optimizer: its policy ranks no metric; 1.1.0 is in
    production and 1.2.0, in staging, has higher latency and lower MAPE and RMSE."""
    model = make_model(actor=people.author, team=people.team, name="price_optimizer")
    promote(model, "1.1.0", {"rmse": 4.51, "mape": 0.109, "latency_ms": 120.0})
    candidate = register(
        actor=people.author,
        model=model,
        version="1.2.0",
        metrics={"rmse": 4.58, "mape": 0.101, "latency_ms": 128.0},
    )
    return candidate


# --- Metric directions --------------------------------------------------------------------


def test_metrics_without_a_direction_are_neutral_everywhere(people, pricing, login):
    client = login(people.viewer)
    html = client.get("/models/price_optimizer/").content.decode()
    latency = cell(html, "latency_ms")
    assert "delta-neutral" in latency and "higher</span>" in latency
    assert "delta-neutral" in cell(html, "mape") and "lower</span>" in cell(html, "mape")
    assert "delta-better" not in html and "delta-worse" not in html
    assert "is better" not in html  # no column heading claims a direction
    version_page = client.get(version_url(pricing)).content.decode()
    compare = client.get("/models/price_optimizer/compare/?a=1.1.0&b=1.2.0").content.decode()
    for page in (version_page, compare):
        assert "delta-neutral" in page
        assert "delta-better" not in page and "delta-worse" not in page


def test_declared_directions_colour_table_version_page_compare_and_chart(people, pricing, login):
    services.policy_update(
        actor=people.admin,
        model=pricing.registered_model,
        metric_directions={"latency_ms": "lower", "mape": "lower"},
        reason="Pricing declares which way its metrics improve.",
    )
    client = login(people.viewer)
    html = client.get("/models/price_optimizer/").content.decode()
    assert "delta-worse" in cell(html, "latency_ms")  # 120 → 128 ms is worse
    assert "delta-better" in cell(html, "mape")  # 0.109 → 0.101 is better
    assert "delta-neutral" in cell(html, "rmse")  # still no direction
    assert 'latency_ms <span class="muted small">(lower is better)</span>' in html
    assert "rmse</th>" in html  # no direction claimed for rmse
    # One chart per metric: the declared direction in its title, the values on its axis;
    # the metric without a direction is charted without a claim.
    assert "<figcaption>latency_ms (lower is better)</figcaption>" in html
    assert ">latency_ms (lower is better) across versions</title>" in html
    assert "latency_ms of 2 versions, from 120 in 1.1.0 to 128 in 1.2.0" in html
    assert "<figcaption>mape (lower is better)</figcaption>" in html
    assert "<figcaption>rmse</figcaption>" in html
    assert ">rmse across versions</title>" in html
    assert "Declared directions: latency_ms, lower is better; mape, lower is better." in html
    for page in (
        client.get(version_url(pricing)).content.decode(),
        client.get("/models/price_optimizer/compare/?a=1.1.0&b=1.2.0").content.decode(),
    ):
        rows = dict(re.findall(r'<th scope="row">([^<]+)</th>.*?class="delta delta-(\w+)"', page))
        assert rows == {"latency_ms": "worse", "mape": "better", "rmse": "neutral"}


def test_key_metrics_and_thresholds_give_directions(people, pricing, login):
    services.policy_update(
        actor=people.admin,
        model=pricing.registered_model,
        thresholds=[{"metric": "latency_ms", "max": 200}],
        key_metrics=[{"metric": "rmse", "direction": "lower", "tolerance": 0.5}],
    )
    html = login(people.viewer).get("/models/price_optimizer/").content.decode()
    assert "delta-worse" in cell(html, "latency_ms")  # a max bound: lower is better
    assert "delta-worse" in cell(html, "rmse")  # 4.51 → 4.58, ranked lower is better
    assert 'data-label="mape"' not in html  # the policy's metrics are the columns


def test_policy_update_validates_and_audits_metric_directions(people, model):
    policy = services.policy_update(
        actor=people.admin,
        model=model,
        key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0.0}],
        metric_directions={"latency_ms": "lower", "f1": "higher"},
        reason="directions",
    )
    assert policy.directions() == {"f1": "higher", "latency_ms": "lower"}
    event = AuditEvent.objects.filter(action=Action.POLICY_CHANGED).latest("id")
    assert event.changes["metric_directions"] == [None, {"latency_ms": "lower", "f1": "higher"}]
    for bad, fragment in [
        ({"latency_ms": "down"}, "must be 'higher' or 'lower'"),
        (["latency_ms"], "must be an object"),
        ({"\x00": "lower"}, "not allowed"),
        ({"f1": "lower"}, "f1 is a key metric where higher is better"),
    ]:
        with pytest.raises(ValidationError) as refused:
            services.policy_update(actor=people.admin, model=model, metric_directions=bad)
        assert any(fragment in m for m in refused.value.message_dict["metric_directions"])
    stored = PromotionPolicy.objects.get(registered_model=model)
    assert stored.metric_directions == {"latency_ms": "lower", "f1": "higher"}


def test_rest_policy_endpoint_sets_and_shows_metric_directions(people, model):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(people.admin)
    url = "/api/v1/models/fraud_detector/policy/"
    assert api.get(url).json()["metric_directions"] == {}
    done = api.put(url, {"metric_directions": {"latency_ms": "lower"}}, format="json")
    assert done.status_code == 200
    assert done.json()["metric_directions"] == {"latency_ms": "lower"}
    refused = api.put(url, {"metric_directions": {"latency_ms": "sideways"}}, format="json")
    assert refused.status_code == 400
    assert "metric_directions" in refused.content.decode()
    assert api.get(url).json()["metric_directions"] == {"latency_ms": "lower"}
    viewer = APIClient()
    viewer.force_authenticate(people.viewer)
    forbidden = viewer.put(url, {"metric_directions": {"auc": "higher"}}, format="json")
    assert forbidden.status_code == 403


def test_admin_policy_form_edits_metric_directions(people, model, login):
    client = login(people.admin)
    data = {
        "registered_model": model.pk,
        "thresholds": "",
        "key_metrics": "",
        "metric_directions": '{"latency_ms": "lower"}',
        "required_approvals": "1",
        "required_card_sections": ["intended_use"],
        "reason": "declare latency",
    }
    response = client.post("/admin/models_app/promotionpolicy/add/", data)
    assert response.status_code == 302
    policy = PromotionPolicy.objects.get(registered_model=model)
    assert policy.metric_directions == {"latency_ms": "lower"}
    bad = client.post(
        f"/admin/models_app/promotionpolicy/{policy.pk}/change/",
        {**data, "metric_directions": '{"latency_ms": 1}'},
    )
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["metric_directions"]
    policy.refresh_from_db()
    assert policy.metric_directions == {"latency_ms": "lower"}


# --- The checklist only where a promotion is possible --------------------------------------


@pytest.fixture
def every_stage(people, model, promote):
    """fraud_detector with a version in every stage: 1.0.0 archived after being in
    production (restored by the rollback of 1.1.0, then superseded by 1.2.0), 1.1.0 rolled
    back, 1.2.0 in production, 1.3.0 archived without ever being in production, 1.4.0
    deprecated and 1.5.0 in staging."""
    first = promote(model, "1.0.0")
    promote(model, "1.1.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    third = promote(model, "1.2.0")
    never = register(actor=people.author, model=model, version="1.3.0")
    services.model_version_archive(actor=people.release, version=never, reason="dropped")
    gone = register(actor=people.author, model=model, version="1.4.0")
    services.model_version_deprecate(actor=people.release, version=gone, reason="leak")
    staged = register(actor=people.author, model=model, version="1.5.0")
    versions = {v.version: v for v in ModelVersion.objects.filter(registered_model=model)}
    assert versions["1.0.0"].stage == Stage.ARCHIVED and first.pk == versions["1.0.0"].pk
    assert versions["1.2.0"].pk == third.pk and versions["1.5.0"].pk == staged.pk
    return versions


@pytest.mark.parametrize(
    ("version", "sentences"),
    [
        (
            "1.0.0",
            [
                "Archived: it cannot be promoted; promotion is only from staging.",
                "It can be deprecated or be restored to production by a rollback of the model.",
            ],
        ),
        (
            "1.3.0",
            [
                "Archived: it cannot be promoted; promotion is only from staging.",
                "It was never in production, so a rollback cannot restore it.",
                "It can be deprecated.",
            ],
        ),
        (
            "1.1.0",
            [
                "Rolled back: it cannot be promoted; promotion is only from staging.",
                "It can be deprecated.",
            ],
        ),
        ("1.4.0", ["Deprecated: no further transitions; deprecated is final."]),
        (
            "1.2.0",
            [
                "Production: it is already in production, so there is nothing to promote.",
                "It can be archived or be rolled back on the model page, which restores an "
                "earlier production version.",
            ],
        ),
    ],
)
def test_versions_that_cannot_be_promoted_say_why_instead_of_a_checklist(
    people, every_stage, login, version, sentences
):
    html = login(people.release).get(version_url(every_stage[version])).content.decode()
    assert "Promotion checklist" not in html
    assert "check-pass" not in html and "check-fail" not in html
    assert "Where this version can go" in html
    for sentence in sentences:
        assert f"<p>{sentence}</p>" in html


def test_staging_version_keeps_its_checklist(people, every_stage, login):
    html = login(people.viewer).get(version_url(every_stage["1.5.0"])).content.decode()
    assert "Promotion checklist" in html and "check-fail" in html
    assert "Where this version can go" not in html


# --- Promote is disabled while guards fail --------------------------------------------------


def test_promote_button_is_disabled_with_the_failing_reasons(people, scene, login):
    client = login(people.release)
    html = client.get(version_url(scene.candidate)).content.decode()
    # The Promote form sits right below the checklist, in its panel: each failing reason
    # is written once, in the checklist, and the disabled button is described by it.
    panel = html.split('aria-labelledby="checks-h"')[1].split("</section>")[0]
    checklist, form = panel.split(f'action="{version_url(scene.candidate, "promote/")}"')
    form = form.split("</form>")[0]
    button = re.search(
        r'<button type="submit" class="button" disabled aria-describedby="([^"]*)"', form
    )
    assert button, "no disabled Promote button"
    assert "button primary" not in form
    described_by = button.group(1).split()
    assert described_by[0] == "promote-blocked"
    assert "Failing now: 1 check, marked ✗ with its reason in the checklist just above." in form
    # The button names each failing check's line, and only those.
    lines = re.findall(r'<li class="check (check-\w+)" id="([^"]+)"', checklist)
    assert "check-pass" in {kind for kind, _id in lines}  # model_card passes: not named
    assert described_by[1:] == [ident for kind, ident in lines if kind == "check-fail"]
    failing = checklist.split(f'id="{described_by[1]}"')[1].split("</li>")[0]
    assert 'review</span>: <span class="reason">0 of 1 required approvals' in failing
    assert html.count("0 of 1 required approvals") == 1


def test_a_forced_promotion_while_guards_fail_is_still_refused(people, scene, login):
    before = AuditEvent.objects.count()
    client = login(people.release)
    response = client.post(version_url(scene.candidate, "promote/"), {"promote-reason": "forced"})
    assert (response.status_code, response["Location"]) == (302, version_url(scene.candidate))
    landing = client.get(response["Location"])
    assert landing.status_code == 409
    html = landing.content.decode()
    assert "Promotion was refused: 1 check failed." in html
    assert html.count("0 of 1 required approvals") == 1
    assert stage_of(scene.candidate) == Stage.STAGING
    assert AuditEvent.objects.count() == before


def test_promote_button_is_live_when_every_guard_passes(people, scene, login):
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer)
    html = login(people.release).get(version_url(scene.candidate)).content.decode()
    form = html.split(f'action="{version_url(scene.candidate, "promote/")}"')[1].split("</form>")[0]
    assert '<button type="submit" class="button primary">Promote</button>' in form
    assert "disabled" not in form and "promote-blocked" not in form


# --- Deprecating asks first -----------------------------------------------------------------


def test_deprecate_shows_a_confirmation_and_acts_only_when_confirmed(people, scene, login):
    client = login(people.release)
    url = version_url(scene.candidate, "deprecate/")
    before = AuditEvent.objects.count()
    for _ in range(2):  # the form's POST, then a reload of the confirmation page
        page = client.post(url, {"deprecate-reason": "Leaks labels"})
        assert page.status_code == 200
        html = page.content.decode()
        assert "Confirm deprecation of fraud_detector 1.2.0" in html
        assert '<span class="badge badge-staging">Staging</span>' in html
        assert "It can no longer be promoted to production." in html
        assert "It can no longer be archived." in html
        assert 'name="deprecate-confirm" value="on"' in html
        assert "Leaks labels</textarea>" in html
        assert stage_of(scene.candidate) == Stage.STAGING
    opened = client.get(url)  # the address opened or reloaded by itself
    assert opened.status_code == 200
    assert "Confirm deprecation of fraud_detector 1.2.0" in opened.content.decode()
    assert stage_of(scene.candidate) == Stage.STAGING
    assert AuditEvent.objects.count() == before

    done = client.post(url, {"deprecate-reason": "Leaks labels", "deprecate-confirm": "on"})
    assert done.status_code == 302
    assert stage_of(scene.candidate) == Stage.DEPRECATED
    event = AuditEvent.objects.get(action=Action.VERSION_DEPRECATED)
    assert (event.actor_username, event.reason) == ("release", "Leaks labels")


def test_deprecate_confirmation_names_a_lost_rollback(people, model, promote, login):
    old = promote(model, "1.0.0")
    promote(model, "1.1.0")
    html = login(people.release).get(version_url(old, "deprecate/")).content.decode()
    assert '<span class="badge badge-archived">Archived</span>' in html
    assert "It can no longer be restored to production by a rollback of the model." in html


def test_deprecate_confirmation_is_refused_like_the_action(people, scene, login):
    """Refused, the confirmation page is not shown: the request goes back to the version
    page, which answers with the refusal's status and says it once."""
    url = version_url(scene.candidate, "deprecate/")
    for who in (people.viewer, people.author):
        client = login(who)
        for method, data in (("get", {}), ("post", {"deprecate-reason": "x"})):
            response = getattr(client, method)(url, data)
            assert (response.status_code, response["Location"]) == (
                302,
                version_url(scene.candidate),
            )
            landing = client.get(response["Location"])
            assert landing.status_code == 403
            html = landing.content.decode()
            assert "Confirm deprecation" not in html
            assert html.count(f"{who.username} may not deprecate") == 1
    client = login(people.release)
    production = client.get(version_url(scene.production, "deprecate/"))
    assert (production.status_code, production["Location"]) == (
        302,
        version_url(scene.production),
    )
    landing = client.get(production["Location"])
    assert landing.status_code == 409
    assert (
        landing.content.decode().count("deprecate is allowed from staging, archived or rolled_back")
        == 1
    )
    empty = login(people.release).post(url, {"deprecate-reason": "", "deprecate-confirm": "on"})
    assert empty.status_code == 400
    assert "Confirm deprecation" in empty.content.decode()
    assert stage_of(scene.candidate) == Stage.STAGING
    assert stage_of(scene.production) == Stage.PRODUCTION
