"""Forms for reviews and model cards; the services enforce who may use them."""

from __future__ import annotations

from django import forms

from models_app.card_sections import CARD_SECTIONS, SECTION_NAMES
from models_app.forms import reason_field

from .models import Decision
from .services import COMMENT_MAX, SECTION_MAX


class ShownRevisionInput(forms.HiddenInput):
    """A hidden input carrying the sha256 of the card revision the page shows.

    When the form is shown again after a refusal, it carries the revision shown this time,
    not the one submitted: what the reviewer submits next binds to what they now see.
    """

    shown: str | None = None

    def get_context(self, name, value, attrs):
        return super().get_context(name, self.shown if self.shown is not None else value, attrs)


class ReviewForm(forms.Form):
    # The sha256 of the revision the page showed: an approval counts only for that content.
    revision_sha256 = forms.CharField(required=False, max_length=64, widget=ShownRevisionInput)
    decision = forms.ChoiceField(
        label="Decision", choices=Decision.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to reject or request changes.",
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("decision") in (Decision.REJECT, Decision.REQUEST_CHANGES)
            and not (data.get("comment") or "").strip()
        ):
            self.add_error("comment", "A comment is required to reject or request changes.")
        return data

    def show_revision(self, revision) -> None:
        """Bind the form to `revision`, the card revision shown next to it."""
        self.fields["revision_sha256"].widget.shown = revision.sha256 if revision else ""


class RequestReviewForm(forms.Form):
    reason = reason_field("Note for reviewers", required=False)


class CardForm(forms.Form):
    """The sections of a model card (models_app.card_sections), in Markdown."""

    reason = reason_field("What changed", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sections = {
            section.name: forms.CharField(
                label=section.title,
                required=False,
                max_length=SECTION_MAX,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 5}),
                help_text=section.help_text,
            )
            for section in CARD_SECTIONS
        }
        # Sections first, the change note last.
        self.fields = {**sections, "reason": self.fields["reason"]}

    def sections(self) -> dict[str, str]:
        return {key: self.cleaned_data.get(key, "") for key in SECTION_NAMES}
