"""Screenshots of the main pages on the demo data, for docs/img/ and the README.

Made by the same tooling as the browser tests, so they show what the tests saw.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.browser.conftest import DOCS_IMG, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("models-list", "/"),
    ("model-page", "/models/fraud_detector/"),
    ("version-page", "/models/fraud_detector/versions/2.1.0/"),
    ("inbox", "/reviews/"),
    ("audit-log", "/audit/"),
    ("compare", "/models/fraud_detector/compare/?a=2.0.1&b=2.1.0"),
]


def test_screenshots_of_main_pages_on_demo_data(new_page):
    call_command("seed_demo", force=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page = new_page(1280, 900)
    sign_in(page, "reviewer1", "demo-reviewer1")
    for name, url in PAGES:
        response = page.goto(url)
        assert response.status == 200, url
        page.screenshot(path=str(DOCS_IMG / f"{name}.png"), full_page=True)
        assert (DOCS_IMG / f"{name}.png").stat().st_size > 10_000

    phone = new_page(390, 844)
    sign_in(phone, "reviewer1", "demo-reviewer1")
    response = phone.goto("/models/fraud_detector/versions/2.1.0/")
    assert response.status == 200
    phone.screenshot(path=str(DOCS_IMG / "version-page-phone.png"), full_page=True)
    # Nothing sticks out sideways on a phone: the page is no wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
