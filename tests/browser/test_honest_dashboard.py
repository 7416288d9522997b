"""What the dashboard tells reviewers and release managers, checked in the browser: metric
colours only where a direction is known, the version's real prospects instead of a
checklist it can never use, no live Promote button while guards fail, and a confirmation
before anything irreversible."""

from __future__ import annotations

import os
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from models_app.enums import Stage
from models_app.models import ModelVersion
from tests.browser.conftest import sign_in
from tests.factories import ensure_roles, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def stage(model_name: str, version: str) -> str:
    return ModelVersion.objects.get(registered_model__name=model_name, version=version).stage


def test_demo_price_optimizer_is_shown_as_it_is(new_page):
    ensure_roles()  # an earlier transactional test's flush removed the role groups
    call_command("seed_demo", force=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    page = new_page()
    sign_in(page, "release_mgr", "demo-release_mgr")

    # Its policy ranks no metric: 1.2.0's changes against 1.0.0 are neither better nor worse.
    page.goto("/models/price_optimizer/")
    table = page.locator(".versions-table")
    row = table.locator("tr", has=page.get_by_role("link", name="1.2.0", exact=True))
    expect(row.locator(".delta-neutral")).to_have_count(3)
    expect(table.locator(".delta-better, .delta-worse")).to_have_count(0)
    expect(table.locator("thead")).not_to_contain_text("is better")

    # The rolled-back 1.1.0 shows no promotion checklist; it says what it still can do.
    page.goto("/models/price_optimizer/versions/1.1.0/")
    expect(page.get_by_role("heading", name="Promotion checklist")).to_have_count(0)
    outlook = page.locator(".stage-outlook")
    expect(outlook).to_contain_text("Rolled back: it cannot be promoted")
    expect(outlook).to_contain_text("It can be deprecated.")

    # 1.2.0 waits on a change request: Promote is disabled, with the reason just above it
    # in the checklist, which describes the button.
    page.goto("/models/price_optimizer/versions/1.2.0/")
    expect(page.get_by_role("heading", name="Promotion checklist")).to_be_visible()
    promote = page.get_by_role("button", name="Promote")
    expect(promote).to_be_disabled()
    expect(promote).to_have_accessible_description(re.compile("standing objection by reviewer2"))
    expect(page.get_by_text("standing objection by reviewer2")).to_have_count(1)


def test_deprecating_asks_first_and_a_reload_does_nothing(people, model, new_page):
    register(actor=people.author, model=model, version="2.0.0")
    page = new_page()
    sign_in(page, "release")
    page.goto("/models/fraud_detector/versions/2.0.0/")
    page.locator("#id_deprecate-reason").fill("Trained on leaked labels")
    page.get_by_role("button", name="Review deprecation…").click()

    heading = page.get_by_role("heading", name="Confirm deprecation of fraud_detector 2.0.0")
    expect(heading).to_be_visible()
    facts = page.locator(".facts")
    expect(facts).to_contain_text("Staging")
    expect(page.locator(".losses")).to_contain_text("It can no longer be promoted to production.")
    assert stage("fraud_detector", "2.0.0") == Stage.STAGING

    page.reload()  # the confirmation's POST again, without the confirmation
    expect(heading).to_be_visible()
    assert stage("fraud_detector", "2.0.0") == Stage.STAGING
    page.goto(page.url)  # the confirmation's address opened anew (GET)
    expect(heading).to_be_visible()
    assert stage("fraud_detector", "2.0.0") == Stage.STAGING

    page.locator("#id_deprecate-reason").fill("Trained on leaked labels")

    page.get_by_role("button", name="Confirm deprecation").click()
    expect(page.get_by_role("status").first).to_contain_text("fraud_detector 2.0.0 deprecated.")
    expect(page.locator("h1 .badge")).to_have_text("Deprecated")
    expect(page.locator(".stage-outlook")).to_contain_text("Deprecated: no further transitions")
    assert stage("fraud_detector", "2.0.0") == Stage.DEPRECATED
