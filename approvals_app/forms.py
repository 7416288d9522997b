"""Forms for reviews and model cards; the services enforce who may use them."""

from __future__ import annotations

from django import forms

from models_app.forms import reason_field

from .cards import SECTION_TITLES
from .models import Decision
from .services import COMMENT_MAX, SECTION_MAX


class ReviewForm(forms.Form):
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


class RequestReviewForm(forms.Form):
    reason = reason_field("Note for reviewers", required=False)


class CardForm(forms.Form):
    """The five sections of a model card, in Markdown."""

    reason = reason_field("What changed", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sections = {
            key: forms.CharField(
                label=title,
                required=False,
                max_length=SECTION_MAX,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 5}),
            )
            for key, title in SECTION_TITLES.items()
        }
        # Sections first, the change note last.
        self.fields = {**sections, "reason": self.fields["reason"]}

    def sections(self) -> dict[str, str]:
        return {key: self.cleaned_data.get(key, "") for key in SECTION_TITLES}
