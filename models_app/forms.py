"""Dashboard forms: they only check the shape of input; the services decide the rest.

Limits mirror the services' (models_app.services.REASON_MAX) so that a person sees the
error next to the field; the services check again for every other door.
"""

from __future__ import annotations

import datetime as dt

from django import forms

from .enums import Action, Stage
from .services import REASON_MAX
from .validators import SEMVER_RE


def reason_field(label: str = "Reason", *, required: bool = True) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail." if required else "",
    )


class ReasonForm(forms.Form):
    """Promote, archive and deprecate: a reason is all they need."""

    reason = reason_field()


class DeprecateForm(ReasonForm):
    """Deprecate: a reason, and the confirmation page's hidden confirmation. Without it
    the form only shows what will be lost for good; with it, the version is deprecated."""

    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class RollbackForm(forms.Form):
    """Roll a model back; the target defaults to the last known good version."""

    to_version = forms.ChoiceField(label="Restore version")
    reason = reason_field()
    # Set by the confirmation page: the first POST shows what will happen, the second acts.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_version"].choices = [(t, t) for t in targets]


class ModelFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100)
    team = forms.ChoiceField(label="Team", required=False)
    stage = forms.ChoiceField(
        label="Has a version in",
        required=False,
        choices=[("", "any stage"), *Stage.choices],
    )

    def __init__(self, *args, teams: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "all teams"), *teams]


ISO_DATE = "%Y-%m-%d"
DATE_HELP = "YYYY-MM-DD; the day is in UTC."
DATE_INVALID = "Enter a date as YYYY-MM-DD (for example 2026-12-07)."


class AuditFilterForm(forms.Form):
    model = forms.CharField(label="Model", required=False, max_length=100)
    user = forms.CharField(label="User", required=False, max_length=150)
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "any action"), *Action.choices]
    )
    request_id = forms.CharField(label="Request id", required=False, max_length=64)
    # Dates are ISO (YYYY-MM-DD), as <input type="date"> sends them, and days in UTC.
    since = forms.DateField(
        label="From (date)",
        required=False,
        input_formats=[ISO_DATE],
        help_text=DATE_HELP,
        error_messages={"invalid": DATE_INVALID},
        widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE),
    )
    until = forms.DateField(
        label="To (date, inclusive)",
        required=False,
        input_formats=[ISO_DATE],
        help_text=DATE_HELP,
        error_messages={"invalid": DATE_INVALID},
        widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE),
    )

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> dict:
        """Keyword arguments for selectors.audit_events from the valid fields."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        start_of = dt.datetime.combine
        utc = dt.UTC
        since, until = data.get("since"), data.get("until")
        return {
            "model_name": data.get("model") or None,
            "actor": data.get("user") or None,
            "action": data.get("action") or None,
            "request_id": data.get("request_id") or None,
            "since": start_of(since, dt.time.min, tzinfo=utc) if since else None,
            # Inclusive end date: everything before the next midnight (none after the
            # last representable day).
            "until": start_of(until + dt.timedelta(days=1), dt.time.min, tzinfo=utc)
            if until and until < dt.date.max
            else None,
        }


TOKEN_LIFETIMES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days")]


class TokenCreateForm(forms.Form):
    expiry_days = forms.TypedChoiceField(
        label="Valid for", choices=TOKEN_LIFETIMES, coerce=int, initial="30"
    )


COMPARE_VERSIONS_LIST = "compare-versions"


class CompareForm(forms.Form):
    """Two version labels, typed or picked from a bounded list of suggestions (a
    <datalist> of the latest versions): a model may have any number of versions, so the
    form never offers them all. The view looks the two labels up."""

    a = forms.CharField(label="Left version", max_length=64)
    b = forms.CharField(label="Right version", max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update(
                {"list": COMPARE_VERSIONS_LIST, "autocomplete": "off", "spellcheck": "false"}
            )

    def _label(self, key: str) -> str:
        text = self.cleaned_data[key].strip()
        if not SEMVER_RE.fullmatch(text):
            raise forms.ValidationError("Not a version label (SemVer, such as 1.2.0).")
        return text

    def clean_a(self) -> str:
        return self._label("a")

    def clean_b(self) -> str:
        return self._label("b")
