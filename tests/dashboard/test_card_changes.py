"""The version page shows what changed in the model card: since the last "request
changes" review, or else since the previous revision, section by section, as escaped
Markdown source, right above the review form."""

from __future__ import annotations

import re

from approvals_app import services as approvals
from approvals_app.cards import section_diffs
from tests.dashboard.conftest import version_url
from tests.factories import FULL_CARD, register


def _changes(page: str) -> str:
    return page.split('<div class="card-changes" id="card-changes">')[1].split("</div>")[0]


def _rows(block: str, section: str) -> list[tuple[str, str]]:
    pre = block.split(f"<h4>{section}</h4>")[1].split("</pre>")[0]
    return re.findall(r'<span class="diff-(\w+)">(.*?)</span>', pre)


def test_section_diffs_lists_only_changed_sections_with_their_lines():
    old = {"intended_use": "Scores card payments.\nNot for loans.", "limitations": "None."}
    new = {"intended_use": "Scores card payments.\nNot for mortgages.", "limitations": "None."}
    changes = section_diffs(old, new)
    assert [c["key"] for c in changes] == ["intended_use"]
    assert changes[0]["rows"] == [
        ("hunk", "@@ -1,2 +1,2 @@"),
        ("ctx", " Scores card payments."),
        ("del", "-Not for loans."),
        ("add", "+Not for mortgages."),
    ]
    assert section_diffs(old, dict(old)) == []


def test_reviewer_sees_the_changes_since_they_asked_for_them_above_the_form(people, model, login):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)  # revision 2
    approvals.review_request(actor=people.author, version=mv)
    approvals.review_submit(
        actor=people.reviewer2, version=mv, decision="request_changes", comment="Say more."
    )
    approvals.card_update(
        actor=people.author,
        version=mv,
        sections={**FULL_CARD, "limitations": "Weak on <b>tiny</b> merchants."},
    )  # revision 3
    approvals.card_update(
        actor=people.author,
        version=mv,
        sections={
            **FULL_CARD,
            "limitations": "Weak on <b>tiny</b> merchants.",
            "evaluation": "Evaluation text.\nAUC 0.97 on the 2026-11 holdout.",
        },
    )  # revision 4
    page = login(people.reviewer).get(version_url(mv)).content.decode()
    block = _changes(page)
    assert "since reviewer2 asked for changes on revision 2" in block
    assert "Revision 2 against revision 4" in block
    # Both edits since the request, in section order, escaped source (not rendered HTML).
    assert re.findall(r"<h4>([^<]*)</h4>", block) == ["Evaluation", "Limitations"]
    assert ("add", "+AUC 0.97 on the 2026-11 holdout.") in _rows(block, "Evaluation")
    assert _rows(block, "Limitations")[1:] == [
        ("del", "-Limitations text."),
        ("add", "+Weak on &lt;b&gt;tiny&lt;/b&gt; merchants."),
    ]
    # Right above the review form.
    assert page.index('id="card-changes"') < page.index('id="review-form"')
    between = page.split('id="card-changes"')[1].split('id="review-form"')[0]
    assert between.count("<form") == 1  # the review form's own tag, nothing in between


def test_without_a_change_request_the_previous_revision_is_the_base(people, model, login):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)  # revision 2
    approvals.card_update(
        actor=people.author, version=mv, sections={**FULL_CARD, "intended_use": "Fraud."}
    )  # revision 3
    block = _changes(login(people.viewer).get(version_url(mv)).content.decode())
    assert "since the previous revision, 2" in block
    assert _rows(block, "Intended use")[1:] == [("del", "-Intended use text."), ("add", "+Fraud.")]


def test_no_change_since_the_request_is_said_and_a_first_revision_shows_nothing(
    people, model, login
):
    mv = register(actor=people.author, model=model, version="1.0.0")
    client = login(people.viewer)
    assert 'id="card-changes"' not in client.get(version_url(mv)).content.decode()
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=mv)
    approvals.review_submit(
        actor=people.reviewer, version=mv, decision="request_changes", comment="More."
    )
    block = _changes(client.get(version_url(mv)).content.decode())
    assert "since reviewer asked for changes on revision 2" in block
    assert "Nothing: the card is still revision 2." in block
