"""Names, versions, metric names, tag keys, aliases and team names that print like another
one: a trailing newline (which a regular expression's "$" lets through unless the whole
text must match), and zero-width, byte-order-mark and bidirectional characters. Each
validator refuses them, and so does each service that takes the field, storing nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from mlflow_app import services as mlflow_services
from models_app import services
from models_app.models import ModelVersion, RegisteredModel, Team
from models_app.validators import (
    SemVer,
    validate_metrics,
    validate_model_name,
    validate_tags,
    validate_visible_text,
)
from tests.factories import register

# Each refused variant of a good value: trailing LF and CRLF, a zero-width space, a BOM in
# front, a right-to-left override inside.
HIDDEN = {
    "lf": lambda s: s + "\n",
    "crlf": lambda s: s + "\r\n",
    "zwsp": lambda s: s + "\u200b",
    "bom": lambda s: "\ufeff" + s,
    "rlo": lambda s: s[:2] + "\u202e" + s[2:],
}
HIDDEN_IDS = list(HIDDEN)
# Invisible characters refused in keys and names beyond those five.
INVISIBLE = [
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u2060",
    "\u2061",
    "\u2064",
    "\u202a",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u00ad",
    "\u061c",
    "\u2028",
    "\u2029",
    "\u3164",
    "\x85",
    "\x7f",
]


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_model_name_with_hidden_character_is_refused(people, kind):
    name = HIDDEN[kind]("fraud_detector")
    with pytest.raises(ValidationError):
        validate_model_name(name)
    with pytest.raises(ValidationError) as excinfo:
        services.registered_model_create(actor=people.author, team=people.team, name=name)
    assert "name" in excinfo.value.message_dict
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_rename_to_name_with_hidden_character_is_refused(people, model, kind):
    with pytest.raises(ValidationError):
        services.registered_model_rename(  # only admins rename
            actor=people.admin, model=model, new_name=HIDDEN[kind]("fraud_v2")
        )
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["fraud_detector"]


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_version_with_hidden_character_is_refused(people, model, kind):
    version = HIDDEN[kind]("1.0.0")
    with pytest.raises(ValidationError):
        SemVer.parse(version)
    with pytest.raises(ValidationError) as excinfo:
        register(actor=people.author, model=model, version=version)
    assert "version" in excinfo.value.message_dict
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_metric_name_with_hidden_character_is_refused(people, model, kind):
    metrics = {HIDDEN[kind]("accuracy"): 0.9}
    with pytest.raises(ValidationError):
        validate_metrics(metrics)
    with pytest.raises(ValidationError) as excinfo:
        register(actor=people.author, model=model, version="1.0.0", metrics=metrics)
    assert "metrics" in excinfo.value.message_dict
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_tag_key_with_hidden_character_is_refused_at_every_service(people, model, kind):
    tags = {HIDDEN[kind]("owner"): "fraud"}
    with pytest.raises(ValidationError):
        validate_tags(tags)
    with pytest.raises(ValidationError) as excinfo:
        services.registered_model_create(
            actor=people.author, team=people.team, name="other", tags=tags
        )
    assert "tags" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        register(actor=people.author, model=model, version="1.0.0", tags=tags)
    with pytest.raises(ValidationError):
        services.registered_model_update(actor=people.author, model=model, tags=tags)
    with pytest.raises(ValidationError):
        services.registered_model_update(actor=people.author, model=model, tag_changes=tags)
    mv = register(actor=people.author, model=model, version="1.0.1")
    with pytest.raises(ValidationError):
        services.model_version_update(actor=people.author, version=mv, tags=tags)
    with pytest.raises(ValidationError):
        mlflow_services.model_version_tag_set(
            actor=people.author, version=mv, key=HIDDEN[kind]("owner"), value="fraud"
        )
    model.refresh_from_db()
    mv.refresh_from_db()
    assert (model.tags, mv.tags) == ({}, {})
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["fraud_detector"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_every_invisible_character_is_refused_in_tag_keys(char):
    with pytest.raises(ValidationError):
        validate_tags({f"own{char}er": "x"})
    with pytest.raises(ValidationError):
        validate_visible_text(f"name{char}", field="name")


@pytest.mark.parametrize("value", ["fraud\n", "fraud\r\n", "a\u202eb", "a\u2066b", "a\x07"])
def test_tag_values_refuse_control_and_bidi_characters(value):
    with pytest.raises(ValidationError):
        validate_tags({"owner": value})


def test_tag_values_and_keys_keep_visible_unicode():
    tags = {"équipe": "fraude (UE)", "owner": "👩\u200d💻 team", "注釈": "テスト"}
    assert validate_tags(tags) == tags


@pytest.mark.parametrize("where", ["key", "value"])
def test_unpaired_surrogate_in_tags_is_refused(where):
    # json.loads turns "\ud800" into a lone surrogate, which no database can store.
    tags = {"k\ud800": "v"} if where == "key" else {"k": "v\ud800"}
    with pytest.raises(ValidationError) as excinfo:
        validate_tags(tags)
    assert "U+D800" in " ".join(excinfo.value.messages)


@pytest.mark.parametrize("kind", HIDDEN_IDS)
def test_alias_with_hidden_character_is_refused(people, model, kind):
    mv = register(actor=people.author, model=model, version="1.0.0")
    alias = HIDDEN[kind]("champion")
    with pytest.raises(ValidationError):
        mlflow_services.validate_alias(alias, setting=True)
    with pytest.raises(ValidationError):
        mlflow_services.alias_set(actor=people.author, version=mv, alias=alias)
    assert not mlflow_services.ModelAlias.objects.exists()


def test_reserved_version_alias_with_trailing_newline_is_refused():
    with pytest.raises(ValidationError):
        mlflow_services.validate_alias("v1\n", setting=True)


@pytest.mark.parametrize("kind", ["zwsp", "bom", "lf"])
def test_team_name_with_hidden_character_is_refused(people, kind):
    with pytest.raises(ValidationError) as excinfo:
        services.team_create(actor=people.admin, name=HIDDEN[kind]("Risk"), slug="risk")
    assert "name" in excinfo.value.message_dict
    assert not Team.objects.filter(slug="risk").exists()
    with pytest.raises(ValidationError):
        services.team_update(actor=people.admin, team=people.team, name=HIDDEN[kind]("Fraud"))
    people.team.refresh_from_db()
    assert people.team.name == "Fraud"
