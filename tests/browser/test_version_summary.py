"""The version page's summary and section order. On a 390 px phone what to decide and do
comes first: the summary, the promotion checklist and the lifecycle's actions, then the
metadata, the metrics and the model card. On a wide screen the page keeps its order. The
summary's jump links land on their sections, and every time on the page says UTC."""

from __future__ import annotations

import re

import pytest

from approvals_app import services as approvals
from tests.browser.conftest import sign_in
from tests.factories import FULL_CARD, register

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _tops(page) -> dict[str, float]:
    """The top of each part of the page, in page coordinates."""
    found = {}
    for name, selector in {
        "summary": ".page-summary",
        "checklist": "section:has(> #checks-h)",
        "actions": "section:has(> #actions-h)",
        "metadata": "section:has(> #meta-h)",
        "metrics": "section:has(> #metrics-h)",
        "card": "section:has(#card-h)",
        "timeline": "section:has(> #timeline-h)",
    }.items():
        box = page.locator(selector).bounding_box()
        assert box is not None, name
        found[name] = box["y"] + page.evaluate("window.scrollY")
    return found


@pytest.fixture
def candidate(people, model, promote):
    promote(model, "1.0.0", {"accuracy": 0.9})
    mv = register(actor=people.author, model=model, version="1.1.0", metrics={"accuracy": 0.92})
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=mv)
    return mv


URL = "/models/fraud_detector/versions/1.1.0/"


def test_on_a_phone_checklist_and_actions_come_before_the_metadata_and_card(candidate, new_page):
    page = new_page(390, 844)
    sign_in(page, "release")
    assert page.goto(URL).status == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    top = _tops(page)
    assert top["summary"] < top["checklist"] < top["actions"]
    assert top["actions"] < top["metadata"] < top["metrics"] < top["card"] < top["timeline"]
    summary = page.locator(".page-summary")
    assert "awaiting review" in summary.inner_text()
    assert re.search(r"\d+ of \d+ guards pass", summary.inner_text())


def test_on_a_wide_screen_the_page_keeps_its_order_and_jump_links_land(candidate, new_page):
    page = new_page(1280, 900)
    sign_in(page, "release")
    assert page.goto(URL).status == 200
    top = _tops(page)
    assert top["summary"] < top["metadata"] < top["checklist"] < top["actions"] < top["card"]
    page.locator(".jump-links").get_by_role("link", name="Timeline").click()
    page.wait_for_url(re.compile(r".*#timeline-h$"))
    heading = page.locator("#timeline-h").bounding_box()
    assert 0 <= heading["y"] < 900  # scrolled into view
    # Every time shown says UTC, and keeps the exact time for a hover.
    times = page.locator("time")
    assert times.count() >= 3
    for i in range(times.count()):
        item = times.nth(i)
        assert item.inner_text().endswith("UTC")
        assert item.get_attribute("title").endswith(" UTC")
        assert item.get_attribute("datetime").endswith("Z")
