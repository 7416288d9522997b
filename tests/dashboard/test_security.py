"""Hostile model cards render harmless; user text is escaped everywhere on the page."""

from __future__ import annotations

import re

from approvals_app import services as approvals
from tests.dashboard.conftest import version_url

HOSTILE = {
    "intended_use": "<script>alert('card')</script>Scores payments.",
    "training_data": '[click me](javascript:alert(1)) and <a href="javascript:alert(2)">x</a>',
    "evaluation": '<img src="x" onerror="alert(3)"> <p onclick="alert(4)">AUC</p>',
    "limitations": '<iframe src="https://evil.example"></iframe><svg onload=alert(5)>',
    "ethical_considerations": '<a href="JaVaScRiPt:alert(6)">y</a> <style>body{}</style>',
}


def _card_html(html: str) -> str:
    return html.split('<div class="card-body">')[1].split("</div>")[0]


def test_hostile_card_renders_harmless_on_version_page(people, scene, login):
    approvals.card_update(actor=people.author, version=scene.candidate, sections=HOSTILE)
    html = login(people.reviewer).get(version_url(scene.candidate)).content.decode()
    # The card's changes show the Markdown source as text: every tag in it is escaped.
    before, changes = html.split('<div class="card-changes" id="card-changes">')
    changes, after = changes.split("</div>", 1)
    assert set(re.findall(r"</?([a-z0-9]+)", changes)) <= {"h3", "h4", "p", "pre", "span"}
    assert "&lt;script&gt;alert(&#x27;card&#x27;)&lt;/script&gt;" in changes
    html = before + after
    lowered = html.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert "onerror" not in lowered
    assert "onclick" not in lowered
    assert "onload" not in lowered
    assert "<iframe" not in lowered
    assert "<style" not in lowered
    card = _card_html(html)
    assert "Scores payments." in card
    assert "AUC" in card


def test_hostile_card_is_escaped_in_compare_diff_and_timeline(people, scene, login):
    approvals.card_update(actor=people.author, version=scene.candidate, sections=HOSTILE)
    client = login(people.reviewer)
    for url in [
        "/models/fraud_detector/compare/?a=1.1.0&b=1.2.0",
        "/audit/",
        "/models/fraud_detector/",
        version_url(scene.candidate),
    ]:
        html = client.get(url).content.decode().lower()
        assert "<script" not in html, url
        assert "<img" not in html, url
        assert "<iframe" not in html, url
        assert "<svg onload" not in html, url


def test_hostile_card_is_escaped_in_the_editor(people, scene, login):
    approvals.card_update(actor=people.author, version=scene.candidate, sections=HOSTILE)
    html = login(people.author).get(version_url(scene.candidate, "card/")).content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;card&#x27;)&lt;/script&gt;" in html


def test_hostile_review_comment_and_reason_are_escaped(people, scene, login):
    approvals.review_submit(
        actor=people.reviewer,
        version=scene.candidate,
        decision="reject",
        comment="<script>alert(7)</script>",
    )
    html = login(people.viewer).get(version_url(scene.candidate)).content.decode()
    assert "<script>alert(7)" not in html
    assert "&lt;script&gt;alert(7)&lt;/script&gt;" in html
