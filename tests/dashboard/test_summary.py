"""The long pages (the version page and the model page) start with a summary: the stage,
the production version, the review's state and how many guards pass (the same readiness
the lists show), and links to each section of the page."""

from __future__ import annotations

import re

import pytest

from models_app import selectors, views
from tests.dashboard.conftest import version_url
from tests.dashboard.test_what_needs_me import _states
from tests.factories import register


def summary(html: str) -> str:
    part = html.split('class="panel page-summary"')[1].split("</section>")[0]
    return re.sub(r"\s+", " ", part)


def fact(html: str, name: str) -> str:
    """The text of the summary's fact `name` (its dd's class), tags removed."""
    match = re.search(rf'<dd class="summary-{name}[^"]*">(.*?)</dd>', summary(html))
    assert match, name
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def assert_jump_links_land(html: str) -> list[str]:
    """Every jump link of the summary names the id of a heading on the page."""
    targets = re.findall(r'<a href="#([\w-]+)">', summary(html).split("jump-links")[1])
    assert targets
    for target in targets:
        assert re.search(rf'<h[23] id="{target}"', html), target
    return targets


def test_summary_comes_first_on_the_version_page(people, scene, login):
    html = login(people.viewer).get(version_url(scene.candidate)).content.decode()
    content = html.split('<main id="main"')[1]
    assert content.index("page-summary") < content.index('id="meta-h"')
    assert 'badge-staging">Staging' in summary(html)
    assert fact(html, "production").startswith("1.1.0, since ")
    assert fact(html, "production").endswith(" UTC")
    assert fact(html, "review") == "awaiting review"
    readiness = selectors.promotion_readiness(versions=[scene.candidate])[scene.candidate.pk]
    assert fact(html, "guards") == f"{readiness.passing} of {readiness.total} guards pass"
    targets = assert_jump_links_land(html)
    assert targets == [
        "meta-h",
        "metrics-h",
        "checks-h",
        "card-h",
        "reviews-h",
        "timeline-h",
    ]
    release = login(people.release).get(version_url(scene.candidate)).content.decode()
    assert "actions-h" in assert_jump_links_land(release)


@pytest.mark.parametrize(
    ("index", "label"),
    [
        (0, "review not requested"),
        (1, "awaiting review"),
        (2, "approved"),
        (3, "changes requested"),
        (4, "rejected"),
    ],
)
def test_version_summary_says_each_review_state_as_the_lists_do(
    people, model, promote, login, index, label
):
    promote(model, "1.0.0")
    mv = _states(people, model)[index]
    readiness = selectors.promotion_readiness(versions=[mv])[mv.pk]
    assert readiness.review_label == label
    html = login(people.viewer).get(version_url(mv)).content.decode()
    assert fact(html, "review") == label
    assert fact(html, "guards") == f"{readiness.passing} of {readiness.total} guards pass"


def test_summary_of_the_production_version(people, scene, login):
    html = login(people.viewer).get(version_url(scene.production)).content.decode()
    assert 'badge-production">Production' in summary(html)
    assert fact(html, "production") == "this version"
    assert fact(html, "review") == "checked for staging versions only"
    assert "outlook-h" in assert_jump_links_land(html)


def test_model_page_summary_names_production_and_the_newest_staging_version(people, scene, login):
    register(actor=people.author, model=scene.model, version="1.1.5")  # older than 1.2.0
    html = login(people.release).get("/models/fraud_detector/").content.decode()
    content = html.split('<main id="main"')[1]
    assert content.index("page-summary") < content.index('id="prod-h"')
    assert fact(html, "production").startswith("1.1.0, since ")
    assert fact(html, "candidate") == "1.2.0 and 1 more"
    assert fact(html, "review") == "awaiting review"
    readiness = selectors.promotion_readiness(versions=[scene.candidate])[scene.candidate.pk]
    assert fact(html, "guards") == f"{readiness.passing} of {readiness.total} guards pass"
    targets = assert_jump_links_land(html)
    assert targets[:2] == ["prod-h", "versions-h"]
    assert {"policy-h", "rollback-h", "recent-h"} <= set(targets)


def test_model_page_summary_finds_a_staging_version_beyond_the_first_page(
    people, model, promote, login, monkeypatch
):
    """The newest staging version is found by its index even when the table's first page
    shows only newer versions in other stages."""
    monkeypatch.setattr(views, "VERSIONS_PER_PAGE", 2)
    register(actor=people.author, model=model, version="0.5.0")
    for i in range(4):
        promote(model, f"1.{i}.0")
    html = login(people.viewer).get("/models/fraud_detector/?chart=1").content.decode()
    table = html.split('class="data versions-table"')[1].split("</table>")[0]
    assert "0.5.0" not in table
    assert fact(html, "candidate") == "0.5.0"
    assert fact(html, "review") == "review not requested"


def test_model_page_without_staging_says_none(people, model, promote, login):
    promote(model, "1.0.0")
    html = login(people.viewer).get("/models/fraud_detector/").content.decode()
    assert fact(html, "candidate") == "none"
    assert "summary-guards" not in html
