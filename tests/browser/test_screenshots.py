"""Screenshots of the main pages on the demo data, for docs/img/ and the README.

Made by the same tooling as the browser tests, so they show what the tests saw. A normal
run writes them to a temporary folder (so that `make test` leaves the checkout clean);
`UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py`
writes them into docs/img/ to be committed.
"""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from tests.browser.conftest import DOCS_IMG, sign_in
from tests.factories import ensure_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (file name, address, whole page or only the first screen)
PAGES = [
    ("models-list", "/", True),
    ("model-page", "/models/fraud_detector/", True),
    ("version-page", "/models/fraud_detector/versions/2.1.0/", True),
    ("inbox", "/reviews/", True),
    ("audit-log", "/audit/", False),
    ("compare", "/models/fraud_detector/compare/?a=2.0.1&b=2.1.0", True),
]


def test_screenshots_of_main_pages_on_demo_data(new_page, tmp_path):
    ensure_roles()  # an earlier transactional test's flush removed the role groups
    call_command("seed_demo", force=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    out = DOCS_IMG if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    page = new_page(1280, 900)
    sign_in(page, "reviewer1", "demo-reviewer1")
    for name, url, full_page in PAGES:
        response = page.goto(url)
        assert response.status == 200, url
        page.screenshot(path=str(out / f"{name}.png"), full_page=full_page)
        assert (out / f"{name}.png").stat().st_size > 10_000

    phone = new_page(390, 844)
    sign_in(phone, "reviewer1", "demo-reviewer1")
    response = phone.goto("/models/fraud_detector/")
    assert response.status == 200
    phone.screenshot(path=str(out / "model-page-phone.png"))
    # Nothing sticks out sideways on a phone: no page is wider than the screen.
    for _name, url, _full in PAGES:
        phone.goto(url)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, url
