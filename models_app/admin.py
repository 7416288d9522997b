"""The admin door: teams, users, policies and the registry, never around the rules.

Every add and change here is one call to models_app.services (or approvals_app.services):
the forms translate the admin's input into that call, and the service's refusals back into
form errors or messages, never a 500. Transitions exist only as admin actions that ask for
a reason and pass the same permission check and guards as every other door; django-fsm's
admin mixin is not used, because it ignores `permission=`. Nothing is deleted.
History is shown read-only and a crafted revert POST is refused; the audit
trail and the history rows are view-only for everyone, superusers included.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_fsm import can_proceed
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken
from simple_history.admin import SimpleHistoryAdmin

from . import accounts, lifecycle, selectors, services
from .admin_lists import LargeListAdmin, VersionSearch, choices_filter
from .card_sections import SECTION_TITLES
from .enums import Action, Stage
from .errors import REFUSALS, WHOLE_INPUT, Answer, answer_for
from .mirrors import mirror_reader
from .models import (
    AuditEvent,
    Membership,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Team,
)
from .permissions import can

User = get_user_model()

REASON_HELP = "Why this change is made; it is kept in the audit trail for good."

# --- Forms that write through a service ----------------------------------------------------


class JSONTextarea(forms.Textarea):
    """A text area that shows a stored value (a dict or list) as JSON text, and what the
    user typed as they typed it."""

    def format_value(self, value):
        if value is not None and not isinstance(value, str):
            try:
                value = json.dumps(value, ensure_ascii=False)
            except (TypeError, ValueError, RecursionError):
                value = str(value)
        return super().format_value(value)


class RegistryJSONField(forms.CharField):
    """A JSON text area that answers every malformed input with a form error.

    A text field that parses its input as JSON when cleaned: malformed JSON and JSON nested
    too deeply for the parser (a RecursionError) are validation errors, and the form shows
    the text as typed when it comes back with errors.
    """

    widget = JSONTextarea(attrs={"rows": 4, "cols": 60, "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, str):
            return value  # already parsed (an initial value)
        try:
            return json.loads(value)
        except ValueError as exc:  # malformed, or a number too long to convert
            raise ValidationError("Enter a valid JSON.", code="invalid") from exc
        except RecursionError as exc:
            raise ValidationError("This JSON is nested too deeply.", code="invalid") from exc


def _object_or_empty(data: dict, key: str) -> dict:
    """A cleaned RegistryJSONField's value, an empty field read as an empty object."""
    return data[key] if data[key] is not None else {}


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose whole save is one service call, made as the last step of validation.

    ModelForm would copy the input onto the instance and full_clean() it (which breaks on
    the protected stage field) and the admin would then .save() it, around the
    services. In the admin, `unbound_form_class` declares every field and binds none to the
    model, so ModelForm leaves the instance alone; `clean` runs the form's own cross-field
    checks (`clean_input`) and, when the input has no error, hands the cleaned data to
    `apply`, which calls a service and returns the object it wrote. A refusal (any of
    models_app.errors.REFUSALS) becomes a form error, so the admin shows the form again
    with status 200. The admin's add and change views run in one transaction, so
    nothing outlives a later failure.
    """

    # The requesting user; RegistryAdmin.get_form sets it on the per-request form class.
    actor = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        show_instance_values(self)

    def apply(self, data: dict):
        raise NotImplementedError

    def clean_input(self, data: dict) -> None:
        """Cross-field checks of the input, made before the service call (add_error)."""

    def clean(self):
        # Not ModelForm.clean(): its only work is asking for the model's uniqueness checks,
        # and the service makes those itself.
        data = self.cleaned_data
        self.clean_input(data)
        if self.errors:
            return data
        try:
            # One savepoint around the whole call, so that a form making several service
            # calls (a team and its members) keeps none of them when one is refused.
            with transaction.atomic():
                result = self.apply(data)
        except REFUSALS as exc:
            self.add_refusal(answer_for(exc))
        else:
            self.instance = result
        return self.cleaned_data

    def add_refusal(self, answer: Answer) -> None:
        """File a refusal under the fields it names; the rest on the form as a whole."""
        if answer.fields is None:
            self.add_error(None, list(answer.messages))
            return
        for field, texts in answer.fields.items():
            if field in self.fields:
                self.add_error(field, texts)
            elif field in (NON_FIELD_ERRORS, WHOLE_INPUT):
                self.add_error(None, texts)
            else:
                self.add_error(None, [f"{field}: {text}" for text in texts])


def unbound_form_class(form_class: type[forms.ModelForm], model) -> type[forms.ModelForm]:
    """`form_class` with every field declared and none bound to `model`.

    Meta.exclude names every model field, so ModelForm neither copies the input onto the
    instance nor validates the instance, and saving the form writes nothing: a service call
    is the whole save. Such a form shows the instance's values by `show_instance_values`.
    """
    attrs = dict(form_class.base_fields)
    meta = {"model": model, "exclude": [field.name for field in model._meta.get_fields()]}
    attrs["Meta"] = type("Meta", (), meta)
    return type(form_class.__name__, (form_class,), attrs)


def show_instance_values(form: forms.ModelForm) -> None:
    """Give the form's fields the instance's values as initial values, as ModelForm does
    for the fields it binds (an unbound_form_class form binds none)."""
    for field in form.instance._meta.get_fields():
        if (
            field.name in form.fields
            and field.name not in form.initial
            and getattr(field, "editable", False)
            and hasattr(field, "value_from_object")
        ):
            form.initial[field.name] = field.value_from_object(form.instance)


def _reason_field(required: bool = True) -> forms.CharField:
    return forms.CharField(
        required=required,
        max_length=services.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=REASON_HELP,
    )


# --- The base admin: no writes around the services, no deletes, read-only history ----------


class NoDeleteMixin:
    """Nothing in the registry is deleted: old versions are the rollback path and the
    evidence, and the audit trail must keep naming what it names."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        raise PermissionDenied

    def delete_queryset(self, request, queryset) -> None:
        raise PermissionDenied


class ViewOnlyAdmin(NoDeleteMixin, admin.ModelAdmin):
    """Evidence: shown to whoever may view it, changed by no one, superusers included."""

    actions = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        raise PermissionDenied


class ViewOnlyInline(admin.TabularInline):
    """Rows shown under their parent's form and changed by no one: no adding, no editing,
    no deleting, and no empty extra rows."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RegistryAdmin(NoDeleteMixin, SimpleHistoryAdmin):
    """Admin of a registry model: forms call services, history is read-only.

    Subclasses set `add_form` and `change_form` (ServiceModelForm subclasses, or None to
    refuse adding). The admin never saves an object itself: `save_model` and
    `save_related` do nothing because the form's service call already wrote.
    """

    add_form: type[ServiceModelForm] | None = None
    change_form: type[ServiceModelForm] | None = None
    save_as = False
    history_list_per_page = 50
    object_history_list_template = "admin/registry/object_history_list.html"

    # --- forms --------------------------------------------------------------------------

    def has_add_permission(self, request) -> bool:
        return self.add_form is not None and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.change_form is not None and super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if _is_snapshot(request):
            kwargs["form"] = forms.ModelForm
        elif obj is None:
            kwargs["form"] = self.add_form or forms.ModelForm
        else:
            kwargs["form"] = self.change_form or forms.ModelForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ServiceModelForm):
            form = unbound_form_class(form, self.model)
        form.actor = request.user
        return form

    def get_fieldsets(self, request, obj=None):
        if _is_snapshot(request):
            return [(None, {"fields": self.snapshot_fields()})]
        if obj is None and getattr(self, "add_fieldsets", None):
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if _is_snapshot(request):
            return self.snapshot_fields()
        if obj is None:
            return ()
        return super().get_readonly_fields(request, obj)

    def get_inline_instances(self, request, obj=None):
        # Inlines are read-only displays; on POST they have nothing to save, and skipping
        # them keeps a missing management form from failing a save the form already made.
        if request.method == "POST":
            return []
        return super().get_inline_instances(request, obj)

    def save_form(self, request, form, change):
        # The form's service call has saved the object; this is what it wrote.
        return form.instance

    def save_model(self, request, obj, form, change) -> None:
        # The form's service call has saved `obj` with its history and audit event.
        return None

    def save_related(self, request, form, formsets, change) -> None:
        return None

    def response_action(self, request, queryset, **kwargs):
        # kwargs: what newer Django versions pass on (action_location, since 6.1).
        # Django turns a non-numeric "index" or selected id into a 500 (int() and
        # pk__in raise); a crafted action POST gets a message instead.
        try:
            int(request.POST.get("index", 0))
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                self.model._meta.pk.to_python(value)
        except (ValueError, ValidationError):
            self.message_user(request, "That selection is not valid.", messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, **kwargs)

    # --- history: shown, never reverted --------------------------------------------------

    def snapshot_fields(self) -> list[str]:
        return [f.name for f in self.model._meta.concrete_fields if not f.primary_key]

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """Show one historical snapshot read-only; refuse any POST.

        simple-history's view saves the old snapshot on POST, which would move a version
        back to a stage without a transition, guard or audit event; SIMPLE_HISTORY_REVERT_
        DISABLED only hides the button. Going back is a rollback through the services.
        """
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(
                ["GET", "HEAD"],
                "History is read-only. To go back, roll back through the registry.",
            )
        request._registry_history_snapshot = True
        return super().history_form_view(request, object_id, version_id, extra_context)


def _is_snapshot(request) -> bool:
    return getattr(request, "_registry_history_snapshot", False)


class HistoryRowAdmin(LargeListAdmin, ViewOnlyAdmin):
    """The history rows of one registry model, browsable site-wide and view-only.

    A history table gets a row for every change, so the list is counted up to a cap and
    has no date hierarchy (its year and month links are a DISTINCT over every row); the
    date filter's choices are fixed ranges that read nothing. The search looks rows up
    by the object's id or by who made the change, both through indexes.
    """

    list_display = (
        "history_date",
        "history_type",
        "history_username",
        "history_change_reason",
        "history_request_id",
    )
    list_filter = ("history_type", "history_date")
    search_fields = ("history_username",)
    search_help_text = (
        "Search by the id of the changed object (a number) or by the exact username of "
        "who changed it."
    )
    # Newest first, in the order of the history_date index.
    ordering = ("-history_date", "-history_id")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit() and len(term) <= 18:
            return queryset.filter(id=int(term)), False
        users = User.objects.filter(username=term).values("pk")
        return queryset.filter(history_user_id__in=users), False


def register_history(model, *extra_columns: str) -> None:
    """Register the historical model of `model` view-only, with `extra_columns` first.

    The columns are plain values (ids, names), never related objects, so that the list
    costs the same number of queries for any number of rows.
    """
    history_model = model.history.model
    attrs = {"list_display": (*extra_columns, *HistoryRowAdmin.list_display)}
    admin.site.register(
        history_model, type(f"{history_model.__name__}Admin", (HistoryRowAdmin,), attrs)
    )


# --- Transition actions --------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = _reason_field()


def transition_action(
    modeladmin,
    request,
    queryset,
    *,
    title: str,
    submit_label: str,
    perform: Callable,
    describe: Callable,
    success: Callable,
    checks: bool = False,
):
    """Ask for a reason on an intermediate page, then call the service per object.

    Each object's success or refusal is reported as its own message; a GuardsFailed
    refusal lists every failing guard's reason. The service checks permission again for
    each object, so a hidden action reached by a crafted POST still changes nothing.
    """
    objects = list(queryset)
    if request.POST.get("confirm") == "yes":
        form = ReasonForm(request.POST)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            for obj in objects:
                try:
                    result = perform(obj, reason)
                except REFUSALS as exc:
                    text = answer_for(exc).text
                    modeladmin.message_user(request, f"{obj}: {text}", messages.ERROR)
                else:
                    modeladmin.message_user(request, success(obj, result), messages.SUCCESS)
            return None
    else:
        form = ReasonForm()
    opts = modeladmin.model._meta
    items = []
    for obj in objects:
        item = {"label": str(obj), "detail": describe(obj)}
        # A mirrored version's promotion is refused, owner first: no dry run to preview.
        if checks and can_proceed(obj.promote) and mirror_reader(obj) is None:
            item["checks"] = selectors.promotion_checks(version=obj)
        items.append(item)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "items": items,
        "objects": objects,
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/registry/transition_confirmation.html", context)


def _checks_html(results) -> str:
    if not results:
        return "No guards apply."
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            "<li><strong>{}</strong> {}: {}</li>",
            (("pass" if r.passed else "FAIL", r.guard, r.reason) for r in results),
        ),
    )


def _recorded_checks_html(recorded) -> str:
    """The checks a mirrored version's origin recorded when it promoted it."""
    if recorded.event_id is None:
        return (
            f"Promoted in {recorded.origin}, never here; no promotion there has reached "
            "this registry."
        )
    when = recorded.recorded_at.strftime("%Y-%m-%d %H:%M") if recorded.recorded_at else "—"
    return format_html(
        "<p>From {}: the checks it recorded when it promoted this version ({}, by {}).</p>{}",
        recorded.origin,
        when,
        recorded.recorded_by or "—",
        _checks_html(recorded.results),
    )


# --- Teams ---------------------------------------------------------------------------------


class TeamForm(ServiceModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        widget=FilteredSelectMultiple("members", is_stacked=False),
        help_text="Contributors act on the models of the teams they belong to.",
    )

    class Meta:
        model = Team
        fields = ("name", "slug", "description", "members")

    def _sync_members(self, team: Team, wanted) -> None:
        current = {m.user_id: m.user for m in team.memberships.select_related("user")}
        wanted = {user.pk: user for user in wanted}
        for pk in sorted(set(wanted) - set(current)):
            services.team_member_add(actor=self.actor, team=team, user=wanted[pk])
        for pk in sorted(set(current) - set(wanted)):
            services.team_member_remove(actor=self.actor, team=team, user=current[pk])


class TeamAddForm(TeamForm):
    def apply(self, data: dict) -> Team:
        team = services.team_create(
            actor=self.actor, name=data["name"], slug=data["slug"], description=data["description"]
        )
        self._sync_members(team, data["members"])
        return team


class TeamChangeForm(TeamForm):
    class Meta(TeamForm.Meta):
        fields = ("name", "description", "members")

    def apply(self, data: dict) -> Team:
        team = services.team_update(
            actor=self.actor, team=self.instance, name=data["name"], description=data["description"]
        )
        self._sync_members(team, data["members"])
        return team


class MembershipInline(ViewOnlyInline):
    """Who is in the team and since when; membership changes go through the team form."""

    model = Membership
    fields = ("user", "created_at")
    readonly_fields = ("user", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Team)
class TeamAdmin(RegistryAdmin):
    add_form = TeamAddForm
    change_form = TeamChangeForm
    inlines = [MembershipInline]
    list_display = ("name", "slug", "n_members", "n_models", "created_at")
    search_fields = ("name", "slug", "description")
    list_filter = ("created_at",)
    readonly_fields = ("slug", "created_at")

    def get_prepopulated_fields(self, request, obj=None):
        # The slug is typed once, on creation; team_update never changes it.
        return {"slug": ("name",)} if obj is None else {}

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=Count("memberships", distinct=True),
                n_models=Count("registered_models", distinct=True),
            )
        )

    @admin.display(description="members", ordering="n_members")
    def n_members(self, obj) -> int:
        return obj.n_members

    @admin.display(description="models", ordering="n_models")
    def n_models(self, obj) -> int:
        return obj.n_models


# --- Registered models ---------------------------------------------------------------------

TAGS_HELP = 'A JSON object of string → string, e.g. {"domain": "payments"}.'


class RegisteredModelAddForm(ServiceModelForm):
    tags = RegistryJSONField(required=False, help_text=TAGS_HELP)

    class Meta:
        model = RegisteredModel
        fields = ("name", "team", "description", "tags")

    def apply(self, data: dict) -> RegisteredModel:
        return services.registered_model_create(
            actor=self.actor,
            name=data["name"],
            team=data["team"],
            description=data["description"],
            tags=_object_or_empty(data, "tags"),
        )


class RegisteredModelChangeForm(ServiceModelForm):
    tags = RegistryJSONField(required=False, help_text=TAGS_HELP)

    class Meta:
        model = RegisteredModel
        fields = ("description", "tags")

    def apply(self, data: dict) -> RegisteredModel:
        return services.registered_model_update(
            actor=self.actor,
            model=self.instance,
            description=data["description"],
            tags=_object_or_empty(data, "tags"),
        )


@admin.register(RegisteredModel)
class RegisteredModelAdmin(RegistryAdmin):
    add_form = RegisteredModelAddForm
    change_form = RegisteredModelChangeForm
    list_display = (
        "name",
        "team",
        "production_label",
        "n_versions",
        "created_by",
        "updated_at",
    )
    list_select_related = ("team", "created_by")
    list_filter = ("team", "created_at")
    search_fields = ("name", "description", "team__name")
    readonly_fields = (
        "name",
        "team",
        "created_by",
        "created_at",
        "updated_at",
        "production_label",
        "last_known_good",
        "policy_in_force",
        "audit_link",
    )
    actions = ["rollback_models"]

    def get_queryset(self, request):
        production = ModelVersion.objects.filter(
            registered_model=OuterRef("pk"), stage=Stage.PRODUCTION
        ).values("version")[:1]
        return selectors.model_list().annotate(production_label=Subquery(production))

    @admin.display(description="in production", ordering="production_label")
    def production_label(self, obj) -> str:
        return obj.production_label or "—"

    @admin.display(description="versions", ordering="n_versions")
    def n_versions(self, obj) -> int:
        return obj.n_versions

    @admin.display(description="last known good")
    def last_known_good(self, obj) -> str:
        version = selectors.last_known_good(model=obj)
        return version.version if version is not None else "—"

    @admin.display(description="promotion policy in force")
    def policy_in_force(self, obj) -> str:
        policy = selectors.effective_policy(model=obj)
        if policy.pk is None:
            return "the built-in default (no policy stored)"
        url = reverse("admin:models_app_promotionpolicy_change", args=[policy.pk])
        return format_html('<a href="{}">{}</a>', url, policy)

    @admin.display(description="audit trail")
    def audit_link(self, obj) -> str:
        url = reverse("admin:models_app_auditevent_changelist")
        return format_html('<a href="{}?registered_model__id__exact={}">events</a>', url, obj.pk)

    def has_rollback_permission(self, request) -> bool:
        return can(request.user, "model.rollback")

    @admin.action(description="Roll back to the last known good version…", permissions=["rollback"])
    def rollback_models(self, request, queryset):
        def describe(model):
            current = selectors.production_version(model=model)
            target = selectors.last_known_good(model=model)
            now = current.version if current else "none"
            restores = target.version if target else "nothing (no earlier production version)"
            return f"in production: {now}; would restore: {restores}"

        return transition_action(
            self,
            request,
            queryset,
            title="Roll back models",
            submit_label="Roll back",
            perform=lambda model, reason: services.registered_model_rollback(
                actor=request.user, model=model, reason=reason
            ),
            describe=describe,
            success=lambda model, restored: (
                f"{model}: rolled back; {restored.version} is in production again."
            ),
        )


# --- Versions ------------------------------------------------------------------------------


class ModelVersionAddForm(ServiceModelForm):
    """Register a version: the same fields and checks as the API's register endpoint."""

    metrics = RegistryJSONField(
        required=False,
        help_text='Metric name → finite number, e.g. {"accuracy": 0.93, "latency_ms": 41}.',
    )
    params = RegistryJSONField(
        required=False, help_text='Training parameters as a JSON object, e.g. {"max_depth": 6}.'
    )
    tags = RegistryJSONField(required=False, help_text=TAGS_HELP)
    artifact_size = forms.IntegerField(required=False, min_value=0)

    class Meta:
        model = ModelVersion
        fields = (
            "registered_model",
            "version",
            "description",
            "metrics",
            "params",
            "artifact_uri",
            "artifact_sha256",
            "artifact_size",
            "data_version",
            "code_version",
            "source_run",
            "tags",
        )
        help_texts = {
            "version": "SemVer 2.0, e.g. 2.1.0 or 3.0.0-rc.1. Fixed once registered.",
            "artifact_uri": "Where the model lives: s3://, gs://, https://, runs:/, models:/ …",
        }

    def apply(self, data: dict) -> ModelVersion:
        return services.model_version_register(
            actor=self.actor,
            model=data["registered_model"],
            version=data["version"],
            metrics=_object_or_empty(data, "metrics"),
            params=_object_or_empty(data, "params"),
            artifact_uri=data["artifact_uri"],
            artifact_sha256=data["artifact_sha256"],
            artifact_size=data["artifact_size"],
            data_version=data["data_version"],
            code_version=data["code_version"],
            source_run=data["source_run"],
            description=data["description"],
            tags=_object_or_empty(data, "tags"),
        )


class ModelVersionChangeForm(ServiceModelForm):
    """Only the description and tags of a version change; everything else is identity."""

    tags = RegistryJSONField(required=False, help_text=TAGS_HELP)

    class Meta:
        model = ModelVersion
        fields = ("description", "tags")

    def apply(self, data: dict) -> ModelVersion:
        return services.model_version_update(
            actor=self.actor,
            version=self.instance,
            description=data["description"],
            tags=_object_or_empty(data, "tags"),
        )


@admin.register(ModelVersion)
class ModelVersionAdmin(LargeListAdmin, VersionSearch, RegistryAdmin):
    add_form = ModelVersionAddForm
    change_form = ModelVersionChangeForm
    list_display = (
        "registered_model",
        "version",
        "number",
        "stage",
        "created_by",
        "created_at",
        "stage_changed_at",
    )
    list_select_related = ("registered_model__team", "created_by")
    list_filter = (
        choices_filter("stage", Stage.choices, "stage"),
        "registered_model__team",
        "created_at",
    )
    # Model by model (the newest model first), each model's versions by SemVer precedence,
    # newest first: the order of the modelversion_keyset index, read backwards, so that a
    # page (of all versions or of one model's) reads only its own rows. Sorting by the
    # model's name would join and sort every version first.
    ordering = ("-registered_model_id", "-precedence", "-id")
    fieldsets = (
        (
            "Identity (fixed at registration)",
            {
                "fields": (
                    "registered_model",
                    "version",
                    "number",
                    "metrics",
                    "artifact_uri",
                    "artifact_sha256",
                    "artifact_size",
                    "created_by",
                    "created_at",
                )
            },
        ),
        ("Lineage", {"fields": ("data_version", "code_version", "params", "source_run")}),
        ("Editable", {"fields": ("description", "tags")}),
        (
            "Lifecycle (change it with the actions on the list page)",
            {
                "fields": (
                    "stage",
                    "stage_changed_at",
                    "promoted_at",
                    "promotion_checks",
                    "card_link",
                    "audit_link",
                )
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "registered_model",
                    "version",
                    "description",
                    "metrics",
                    "params",
                    "tags",
                )
            },
        ),
        ("Artifact", {"fields": ("artifact_uri", "artifact_sha256", "artifact_size")}),
        ("Lineage", {"fields": ("data_version", "code_version", "source_run")}),
    )
    readonly_fields = (
        "registered_model",
        "version",
        "number",
        "metrics",
        "params",
        "artifact_uri",
        "artifact_sha256",
        "artifact_size",
        "data_version",
        "code_version",
        "source_run",
        "created_by",
        "created_at",
        "stage",
        "stage_changed_at",
        "promoted_at",
        "promotion_checks",
        "card_link",
        "audit_link",
    )
    actions = ["check_promotion", "promote_versions", "archive_versions", "deprecate_versions"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("registered_model__team", "created_by")

    @admin.display(description="promotion checks (dry run)")
    def promotion_checks(self, obj) -> str:
        reader = mirror_reader(obj)
        if reader is not None:
            return _recorded_checks_html(reader.checks(obj))
        if not can_proceed(obj.promote):
            return (
                f"Only {lifecycle.allowed_from('promote')} versions are promoted; this one is "
                f"{obj.get_stage_display()}."
            )
        return _checks_html(selectors.promotion_checks(version=obj))

    @admin.display(description="model card")
    def card_link(self, obj) -> str:
        card = getattr(obj, "card", None)
        if card is None:
            return "—"
        url = reverse("admin:approvals_app_modelcard_change", args=[card.pk])
        return format_html('<a href="{}">{}</a>', url, card)

    @admin.display(description="audit trail")
    def audit_link(self, obj) -> str:
        url = reverse("admin:models_app_auditevent_changelist")
        return format_html('<a href="{}?model_version__id__exact={}">events</a>', url, obj.pk)

    # --- actions ------------------------------------------------------------------------

    def has_promote_permission(self, request) -> bool:
        return can(request.user, "version.promote")

    def has_archive_permission(self, request) -> bool:
        return can(request.user, "version.archive")

    def has_deprecate_permission(self, request) -> bool:
        return can(request.user, "version.deprecate")

    @admin.action(description="Check promotion (dry run)")
    def check_promotion(self, request, queryset):
        for version in queryset:
            origin = version.registered_model.origin
            if origin:
                self.message_user(
                    request,
                    f"{version}: owned by registry {origin}; it is checked and promoted "
                    "there, never here.",
                    messages.WARNING,
                )
                continue
            if not can_proceed(version.promote):
                self.message_user(
                    request,
                    f"{version}: in stage '{version.stage}'; only "
                    f"{lifecycle.allowed_from('promote')} versions are promoted.",
                    messages.WARNING,
                )
                continue
            results = selectors.promotion_checks(version=version)
            failures = [r.reason for r in results if not r.passed]
            if failures:
                self.message_user(
                    request,
                    f"{version}: promotion would be refused: {'; '.join(failures)}",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    f"{version}: every guard passes ({len(results)} checked).",
                    messages.SUCCESS,
                )

    @admin.action(description="Promote to production…", permissions=["promote"])
    def promote_versions(self, request, queryset):
        return transition_action(
            self,
            request,
            queryset,
            title="Promote versions to production",
            submit_label="Promote",
            perform=lambda mv, reason: services.model_version_promote(
                actor=request.user, version=mv, reason=reason
            ),
            describe=lambda mv: f"now in {mv.get_stage_display().lower()}",
            success=lambda mv, result: f"{result}: promoted to production.",
            checks=True,
        )

    @admin.action(description="Archive…", permissions=["archive"])
    def archive_versions(self, request, queryset):
        return transition_action(
            self,
            request,
            queryset,
            title="Archive versions",
            submit_label="Archive",
            perform=lambda mv, reason: services.model_version_archive(
                actor=request.user, version=mv, reason=reason
            ),
            describe=lambda mv: f"now in {mv.get_stage_display().lower()}",
            success=lambda mv, result: f"{result}: archived.",
        )

    @admin.action(description="Deprecate…", permissions=["deprecate"])
    def deprecate_versions(self, request, queryset):
        return transition_action(
            self,
            request,
            queryset,
            title="Deprecate versions",
            submit_label="Deprecate",
            perform=lambda mv, reason: services.model_version_deprecate(
                actor=request.user, version=mv, reason=reason
            ),
            describe=lambda mv: f"now in {mv.get_stage_display().lower()}",
            success=lambda mv, result: f"{result}: deprecated.",
        )


# --- Promotion policies --------------------------------------------------------------------


class PolicyForm(ServiceModelForm):
    thresholds = RegistryJSONField(
        required=False,
        help_text=(
            'A JSON list; each rule has one bound: [{"metric": "accuracy", "min": 0.9}, '
            '{"metric": "latency_ms", "max": 50}]. Empty: no thresholds.'
        ),
    )
    key_metrics = RegistryJSONField(
        required=False,
        help_text=(
            "A JSON list of metrics that must not regress against production: "
            '[{"metric": "f1", "direction": "higher", "tolerance": 0.01}]. '
            'direction is "higher" or "lower" (which is better); tolerance is ε ≥ 0.'
        ),
    )
    metric_directions = RegistryJSONField(
        required=False,
        help_text=(
            'A JSON object naming which way other metrics improve: {"latency_ms": "lower", '
            '"auc": "higher"}. The dashboard colours a change better or worse only for '
            "metrics with a direction (from here, a key metric or a threshold). Empty: none."
        ),
    )
    required_approvals = forms.IntegerField(
        min_value=0,
        max_value=10,
        initial=1,
        help_text="Approvals of the current card revision by reviewers other than the author.",
    )
    required_card_sections = forms.MultipleChoiceField(
        choices=list(SECTION_TITLES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Model card sections that must not be empty.",
    )
    reason = _reason_field(required=False)

    class Meta:
        model = PromotionPolicy
        fields = (
            "thresholds",
            "key_metrics",
            "metric_directions",
            "required_approvals",
            "required_card_sections",
            "require_checksum",
        )

    def _update(self, model, data: dict) -> PromotionPolicy:
        return services.policy_update(
            actor=self.actor,
            model=model,
            thresholds=data["thresholds"] if data["thresholds"] is not None else [],
            key_metrics=data["key_metrics"] if data["key_metrics"] is not None else [],
            metric_directions=_object_or_empty(data, "metric_directions"),
            required_approvals=data["required_approvals"],
            required_card_sections=list(data["required_card_sections"]),
            require_checksum=data["require_checksum"],
            reason=data["reason"],
        )


class PolicyAddForm(PolicyForm):
    registered_model = forms.ModelChoiceField(
        queryset=RegisteredModel.objects.order_by("name"),
        required=False,
        empty_label="— the site default (every model without its own policy) —",
        help_text="The model this policy governs; leave empty for the site default.",
    )

    class Meta(PolicyForm.Meta):
        fields = ("registered_model", *PolicyForm.Meta.fields)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["required_card_sections"].initial = list(PromotionPolicy.DEFAULT_SECTIONS)

    def clean_registered_model(self):
        model = self.cleaned_data["registered_model"]
        existing = (
            PromotionPolicy.objects.filter(registered_model=model, is_site_default=False)
            if model is not None
            else PromotionPolicy.objects.filter(is_site_default=True)
        )
        if existing.exists():
            what = f"{model} already has a policy" if model else "The site default exists"
            raise ValidationError(f"{what}; change that one instead.")
        return model

    def apply(self, data: dict) -> PromotionPolicy:
        return self._update(data["registered_model"], data)


class PolicyChangeForm(PolicyForm):
    def apply(self, data: dict) -> PromotionPolicy:
        return self._update(self.instance.registered_model, data)


@admin.register(PromotionPolicy)
class PromotionPolicyAdmin(RegistryAdmin):
    add_form = PolicyAddForm
    change_form = PolicyChangeForm
    list_display = (
        "scope",
        "required_approvals",
        "thresholds",
        "key_metrics",
        "require_checksum",
        "updated_at",
    )
    list_select_related = ("registered_model",)
    list_filter = ("is_site_default", "require_checksum")
    search_fields = ("registered_model__name",)
    readonly_fields = ("scope", "updated_at")

    @admin.display(description="applies to", ordering="registered_model__name")
    def scope(self, obj) -> str:
        return str(obj)


# --- Audit trail ---------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(LargeListAdmin, ViewOnlyAdmin):
    """The audit trail: read-only for everyone, admins included.

    Millions of rows: the list is counted up to a cap, its filters' choices are the
    actions and stages of the code and fixed date ranges (no DISTINCT over the trail, no
    date hierarchy), the search matches exact model names and usernames through their
    indexes, and the order, newest first, is that of the audit_keyset index.
    """

    list_display = (
        "created_at",
        "action_label",
        "actor_username",
        "model_name",
        "version_label",
        "from_stage",
        "to_stage",
        "short_reason",
    )
    list_filter = (
        choices_filter("action", Action.choices, "action"),
        choices_filter("to_stage", Stage.choices, "to stage"),
        "created_at",
    )
    search_fields = ("model_name__exact", "actor_username__exact")
    search_help_text = (
        "Search by an exact model name or username (case matters): fraud_detector, or "
        "alice. Use the filters for actions, stages and dates."
    )
    ordering = ("-created_at", "-id")

    def lookup_allowed(self, lookup, value, request=None):
        # The model and version pages link here filtered by their own id.
        if lookup in ("registered_model__id__exact", "model_version__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="reason")
    def short_reason(self, obj) -> str:
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    @admin.display(description="action", ordering="action")
    def action_label(self, obj) -> str:
        return obj.action_label

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields]


for _model, _columns in (
    (Team, ("name", "slug")),
    (Membership, ("team_id", "user_id")),
    (RegisteredModel, ("name",)),
    (ModelVersion, ("registered_model_id", "version", "stage")),
    (PromotionPolicy, ("registered_model_id", "is_site_default")),
):
    register_history(_model, "id", *_columns)


# --- Users: deactivated, never deleted ------------------------------------------------------

USER_NOTE = (
    "Users are never deleted: the audit trail and history name them. To take someone's "
    "access away, untick “Active”."
)


class RecordsRightsTogether:
    """The user and group pages: each save is one transaction whose rights changes (active
    flag, staff and superuser status, groups, permissions) are recorded, by the signals of
    models_app.accounts, as one audit event per user or group and kind of change."""

    def add_view(self, request, form_url="", extra_context=None):
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using), accounts.recorded_together():
            return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using), accounts.recorded_together():
            return super().change_view(request, object_id, form_url, extra_context)


class RegistryUserAdmin(RecordsRightsTogether, UserAdmin):
    """Django's user admin without delete: deactivate users instead."""

    fieldsets = tuple(
        (name, {**options, "description": USER_NOTE} if name == "Permissions" else options)
        for name, options in UserAdmin.fieldsets
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, RegistryUserAdmin)


class RegistryGroupAdmin(RecordsRightsTogether, GroupAdmin):
    """Django's group (role) admin; permission changes are recorded in the audit trail."""


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, RegistryGroupAdmin)


# --- API tokens: made and revoked through models_app.accounts ---------------------------------


class TokenAddForm(forms.ModelForm):
    """Whose token, and until when (empty: it never expires)."""

    actor = None  # the requesting user; set by RegistryAuthTokenAdmin.get_form

    class Meta:
        model = AuthToken
        fields = ("user", "expiry")

    def clean(self):
        data = super().clean()
        user, expiry = data.get("user"), data.get("expiry")
        if user is not None and not user.is_active:
            self.add_error("user", f"{user.get_username()} is deactivated.")
        elif user is not None and not self._may_create_for(user):
            self.add_error("user", "Only an admin may create tokens for someone else.")
        if expiry is not None and expiry <= timezone.now():
            self.add_error("expiry", "The expiry must be in the future.")
        return data

    def _may_create_for(self, user) -> bool:
        return self.actor is None or self.actor.is_superuser or user.pk == self.actor.pk


class RegistryAuthTokenAdmin(AuthTokenAdmin):
    """knox's token admin, with every token made and revoked by the services, so that
    each is recorded in the audit trail (by its key and expiry; never its secret)."""

    add_form = TokenAddForm
    list_display = ("token_key", "user", "created", "expiry")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # a token has nothing to change
        lifetime = obj.expiry - timezone.now() if obj.expiry is not None else None
        try:
            token, secret = accounts.api_token_create(
                actor=request.user, user=obj.user, expiry=lifetime
            )
        except REFUSALS as exc:
            raise PermissionDenied(answer_for(exc).text) from exc
        obj.digest, obj.token_key = token.digest, token.token_key
        obj.created, obj.expiry = token.created, token.expiry
        self.message_user(
            request, f"Token {secret} (copy it now: it is shown only once).", messages.INFO
        )

    def delete_model(self, request, obj) -> None:
        try:
            accounts.api_token_revoke(actor=request.user, token=obj)
        except REFUSALS as exc:
            raise PermissionDenied(answer_for(exc).text) from exc

    def delete_queryset(self, request, queryset) -> None:
        for token in queryset.select_related("user"):
            self.delete_model(request, token)


if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)
admin.site.register(AuthToken, RegistryAuthTokenAdmin)
