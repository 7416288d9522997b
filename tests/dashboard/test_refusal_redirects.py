"""Post/Redirect/Get for refused actions: a refused or invalid POST redirects to the page
it came from, which shows the refusal once, with the refusal's status and the form as it
was filled in; the next request to that page shows the plain page; no action's address
answers 405 to a GET (a reload or a bookmark), and none repeats the action; deprecating's
address is its confirmation page, which changes nothing either."""

from __future__ import annotations

import pytest

from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion
from tests.dashboard.conftest import version_url

ACTIONS = ["promote/", "archive/", "review/", "request-review/"]


@pytest.mark.parametrize("action", ACTIONS)
def test_a_get_of_an_action_address_goes_to_the_version_page(people, scene, login, action):
    events = AuditEvent.objects.count()
    response = login(people.release).get(version_url(scene.candidate, action))
    assert (response.status_code, response["Location"]) == (302, version_url(scene.candidate))
    assert AuditEvent.objects.count() == events


def test_a_get_of_the_deprecate_address_shows_its_confirmation_and_changes_nothing(
    people, scene, login
):
    """Deprecating asks first: its address, opened or reloaded, is the confirmation page."""
    events = AuditEvent.objects.count()
    response = login(people.release).get(version_url(scene.candidate, "deprecate/"))
    assert response.status_code == 200
    assert "Confirm deprecation of fraud_detector 1.2.0" in response.content.decode()
    assert AuditEvent.objects.count() == events
    assert ModelVersion.objects.get(pk=scene.candidate.pk).stage == Stage.STAGING


def test_a_get_of_the_rollback_address_goes_to_the_model_page(people, scene, login):
    response = login(people.release).get("/models/fraud_detector/rollback/")
    assert (response.status_code, response["Location"]) == (302, "/models/fraud_detector/")


@pytest.mark.parametrize(
    ("who", "action", "data", "status", "sentence"),
    [
        ("viewer", "archive/", {"archive-reason": "old"}, 403, "viewer may not archive"),
        ("release", "promote/", {"promote-reason": "go"}, 409, "Promotion was refused"),
        ("reviewer", "request-review/", {"request-reason": "pls"}, 403, "reviewer may not"),
    ],
)
def test_a_refusal_is_shown_once_then_the_page_is_plain_again(
    people, scene, login, who, action, data, status, sentence
):
    client = login(getattr(people, who))
    events = AuditEvent.objects.count()
    posted = client.post(version_url(scene.candidate, action), data)
    assert (posted.status_code, posted["Location"]) == (302, version_url(scene.candidate))
    shown = client.get(version_url(scene.candidate))
    assert shown.status_code == status
    html = shown.content.decode()
    assert html.count(sentence) == 1
    assert 'class="panel refusal"' in html
    assert not list(shown.context["messages"])  # not said again as a message
    again = client.get(version_url(scene.candidate))
    assert again.status_code == 200
    assert 'class="panel refusal"' not in again.content.decode()
    assert AuditEvent.objects.count() == events
    assert ModelVersion.objects.get(pk=scene.candidate.pk).stage == Stage.STAGING


def test_a_refused_form_comes_back_filled_in(people, scene, login):
    client = login(people.reviewer)
    response = client.post(
        version_url(scene.candidate, "review/"),
        {"review-decision": "reject", "review-comment": ""},
        follow=True,
    )
    assert response.status_code == 400
    form = response.context["review_form"]
    assert form.is_bound and form["decision"].value() == "reject"
    assert "A comment is required to reject" in response.content.decode()
    assert list(map(str, response.context["messages"])) == [
        "Nothing was changed: correct the form below."
    ]


def test_a_refusal_kept_for_one_page_is_not_shown_on_another(people, scene, login):
    client = login(people.viewer)
    client.post(version_url(scene.candidate, "archive/"), {"archive-reason": "old"})
    other = client.get(version_url(scene.production))
    assert other.status_code == 200
    assert 'class="panel refusal"' not in other.content.decode()
    # Still waiting for its own page.
    assert client.get(version_url(scene.candidate)).status_code == 403


def test_a_refused_card_edit_comes_back_once_with_the_text_typed(people, scene, login):
    client = login(people.outsider)
    response = client.post(
        version_url(scene.candidate, "card/"),
        {"intended_use": "My new text.", "reason": "x"},
        follow=True,
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert html.count("not a member of that team") == 1
    assert "My new text." in html
    # Reloaded: the outsider may not edit, so the page sends them back to the version.
    assert client.get(version_url(scene.candidate, "card/")).status_code == 302
