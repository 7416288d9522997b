"""The model card's sections are defined once (models_app.card_sections); every list of
sections, every title and every default is read from there."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from approvals_app import cards
from approvals_app.admin import ModelCardChangeForm
from approvals_app.checks import section_column_errors
from approvals_app.forms import CardForm
from approvals_app.models import CardRevision
from models_app import card_sections, selectors
from models_app.admin import PolicyAddForm
from models_app.card_sections import CARD_SECTIONS, SECTION_NAMES
from models_app.models import PromotionPolicy
from models_app.validators import validate_card_sections
from tests.factories import register


def test_the_sections_have_unique_names_titles_and_help():
    assert len(set(SECTION_NAMES)) == len({s.title.lower() for s in CARD_SECTIONS}) == 5
    assert all(s.name.isidentifier() and s.title and s.help_text for s in CARD_SECTIONS)
    assert cards.SECTION_TITLES is card_sections.SECTION_TITLES
    assert list(card_sections.SECTION_TITLES) == list(SECTION_NAMES)


def test_the_policy_default_and_its_validation_follow_the_sections(db, model):
    required = [s.name for s in CARD_SECTIONS if s.required_by_default]
    assert required == PromotionPolicy.DEFAULT_SECTIONS
    assert selectors.effective_policy(model=model).required_card_sections == required
    assert validate_card_sections(list(reversed(SECTION_NAMES))) == list(reversed(SECTION_NAMES))
    with pytest.raises(ValidationError, match=", ".join(SECTION_NAMES)):
        validate_card_sections(["summary"])


def test_a_card_revision_has_a_text_column_per_section_and_the_check_says_so(db):
    assert section_column_errors(CardRevision) == []
    call_command("check", "approvals_app")  # raises SystemCheckError on an error

    renamed = (*SECTION_NAMES[:-1], "data_protection")
    errors = section_column_errors(CardRevision, renamed)
    assert [(e.id, e.msg) for e in errors] == [
        (
            "approvals_app.E001",
            "approvals_app.CardRevision has no text column for the card section 'data_protection'.",
        ),
        (
            "approvals_app.E002",
            f"approvals_app.CardRevision.{SECTION_NAMES[-1]} is a text column but no card section.",
        ),
    ]


def test_markdown_headings_and_the_hash_follow_the_sections():
    doc = cards.to_markdown({})
    assert [line for line in doc.splitlines() if line.startswith("## ")] == [
        f"## {s.title}" for s in CARD_SECTIONS
    ]
    text = {s.name: f"About {s.name}." for s in CARD_SECTIONS}
    assert cards.parse_markdown(cards.to_markdown(text)) == text
    # Only the sections count towards the hash a review binds to.
    assert cards.content_sha256({**text, "summary": "x"}) == cards.content_sha256(text)


def test_dashboard_and_admin_forms_show_each_section_with_its_title_and_help():
    dashboard = CardForm()
    assert list(dashboard.fields) == [*SECTION_NAMES, "reason"]
    for s in CARD_SECTIONS:
        assert (dashboard.fields[s.name].label, dashboard.fields[s.name].help_text) == (
            s.title,
            s.help_text,
        )
    admin_fields = ModelCardChangeForm.base_fields
    assert ModelCardChangeForm.__module__ == "approvals_app.admin"
    assert list(admin_fields) == [*SECTION_NAMES, "reason"]
    for s in CARD_SECTIONS:
        assert admin_fields[s.name].label == s.title
        assert admin_fields[s.name].help_text == f"Markdown. {s.help_text}"
    assert list(PolicyAddForm.base_fields["required_card_sections"].choices) == [
        (s.name, s.title) for s in CARD_SECTIONS
    ]


def test_the_card_edit_page_shows_each_section_help(people, model, client):
    mv = register(actor=people.author, model=model, version="1.0.0")
    client.force_login(people.author)
    page = client.get(f"/models/{model.name}/versions/{mv.version}/card/")
    assert page.status_code == 200
    html = page.content.decode()
    for s in CARD_SECTIONS:
        assert s.title in html
        assert s.help_text in html
