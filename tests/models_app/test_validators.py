"""Validation of user input: SemVer and its precedence, metrics, names, tags and
artifact URIs, both as functions and through the register service."""

from __future__ import annotations

import random

import pytest
import semver
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from models_app import selectors, services
from models_app.validators import (
    SemVer,
    validate_artifact_uri,
    validate_metrics,
    validate_model_name,
    validate_tags,
)
from tests.factories import register

# --- SemVer ------------------------------------------------------------------------------

SEMVER_ORG_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
    "10.0.0",
]


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0",
        "1.2.3",
        "10.20.30",
        "1.0.0-alpha",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.0.0-alpha+001",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "9223372036854775807.0.0",
    ],
)
def test_semver_accepts_valid_versions(text):
    assert SemVer.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.1.1",
        "1.01.1",
        "1.1.01",
        "1.0.0-01",  # numeric pre-release identifiers have no leading zeros
        "1.0.0-alpha..1",
        "1.0.0-",
        "1.0.0+",
        "1.0.0+a..b",
        "v1.0.0",
        "1.0.0 ",
        " 1.0.0",
        "1.0.0-al pha",
        "1.0.0-α",
        "1.0.0\x00",
        "-1.0.0",
        "1.0.0-rc.1" + "x" * 60,  # longer than 64 characters
        "9223372036854775808.0.0",  # does not fit the sort key
        None,
        100,
    ],
)
def test_semver_refuses_invalid_versions(text):
    with pytest.raises(ValidationError):
        SemVer.parse(text)


def test_semver_build_metadata_is_kept_but_does_not_order():
    a, b = SemVer.parse("1.0.0+build.1"), SemVer.parse("1.0.0+build.2")
    assert (a.build, b.build) == ("build.1", "build.2")
    assert a.sort_key == b.sort_key == SemVer.parse("1.0.0").sort_key


def test_semver_sort_key_orders_semver_org_example():
    shuffled = SEMVER_ORG_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=lambda v: SemVer.parse(v).sort_key) == SEMVER_ORG_ORDER


def test_version_list_orders_by_precedence_in_database(people, model):
    shuffled = SEMVER_ORG_ORDER[:]
    random.Random(11).shuffle(shuffled)
    assert shuffled != SEMVER_ORG_ORDER
    for version in shuffled:
        register(actor=people.author, model=model, version=version)
    listed = list(selectors.version_list(model=model).values_list("version", flat=True))
    assert listed == SEMVER_ORG_ORDER[::-1]  # newest first
    # Numbers follow registration order, not precedence.
    numbers = dict(selectors.version_list(model=model).values_list("version", "number"))
    assert [numbers[v] for v in shuffled] == list(range(1, len(shuffled) + 1))


_numeric = st.integers(min_value=0, max_value=2**40).map(str)
_alnum = st.text(alphabet="0123456789abcxyzABCXYZ-", min_size=1, max_size=6).filter(
    lambda s: not s.isdigit()
)
_identifier = st.one_of(_numeric, _alnum, st.sampled_from(["alpha", "beta", "rc", "0", "1"]))
_semver = st.builds(
    lambda core, pre, build: (
        ".".join(map(str, core))
        + (f"-{'.'.join(pre)}" if pre else "")
        + (f"+{'.'.join(build)}" if build else "")
    ),
    st.tuples(*[st.integers(min_value=0, max_value=12) | st.integers(0, 2**62)] * 3),
    st.lists(_identifier, max_size=4),
    st.lists(st.text(alphabet="0123456789abz-", min_size=1, max_size=4), max_size=2),
).filter(lambda text: len(text) <= 64)


@settings(max_examples=300, deadline=None)
@given(_semver, _semver)
def test_sort_key_order_matches_semver_package(a, b):
    ours = SemVer.parse(a).sort_key, SemVer.parse(b).sort_key
    mine = (ours[0] > ours[1]) - (ours[0] < ours[1])
    assert mine == semver.Version.parse(a).compare(b)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_semver_parse_agrees_with_semver_package_on_validity(text):
    try:
        semver.Version.parse(text)
        theirs = True
    except (ValueError, TypeError):
        theirs = False
    try:
        SemVer.parse(text)
        ours = True
    except ValidationError:
        ours = False
    # The semver package accepts Unicode digits that the SemVer grammar does not;
    # everything ours accepts, it accepts.
    assert not ours or theirs


# --- Metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        False,
        "0.9",
        None,
        [0.9],
        {"x": 1},
    ],
    ids=["nan", "inf", "-inf", "true", "false", "string", "none", "list", "dict"],
)
def test_metrics_refuse_non_finite_and_non_numbers(people, model, value):
    with pytest.raises(ValidationError):
        validate_metrics({"accuracy": value})
    with pytest.raises(ValidationError) as excinfo:
        register(actor=people.author, model=model, version="1.0.0", metrics={"accuracy": value})
    assert "metrics" in excinfo.value.message_dict
    assert not model.versions.exists()


@pytest.mark.parametrize("name", ["", " lead", "a\x00b", "x" * 251, "é", "a;b", 7, None])
def test_metrics_refuse_bad_names(name):
    with pytest.raises(ValidationError):
        validate_metrics({name: 0.5})


def test_metrics_accept_finite_numbers():
    assert validate_metrics({"accuracy": 0.9, "latency_ms": 12, "loss/val": -1e-9}) == {
        "accuracy": 0.9,
        "latency_ms": 12.0,
        "loss/val": -1e-9,
    }
    with pytest.raises(ValidationError):
        validate_metrics([("accuracy", 0.9)])


# --- Names and tags ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fraud_detector", "A", "m1.v2-beta_3", "9lives", "x" * 100])
def test_model_names_accepted(name):
    assert validate_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "_lead",
        "-lead",
        ".hidden",
        "x" * 101,
        "has space",
        "slash/name",
        "../up",
        "émile",
        "nul\x00",
        "rtl\u202ename",
        None,
        5,
    ],
)
def test_model_names_refused(people, name):
    with pytest.raises(ValidationError):
        validate_model_name(name)
    with pytest.raises(ValidationError) as excinfo:
        services.registered_model_create(actor=people.author, team=people.team, name=name)
    assert "name" in excinfo.value.message_dict


@pytest.mark.parametrize(
    "tags",
    [
        ["a"],
        {"": "x"},
        {"k": 1},
        {"k": None},
        {"k": True},
        {"k\x00": "v"},
        {"k": "v\x07"},
        {"k": "\u202eevil"},
        {"k" * 251: "v"},
        {f"k{i}": "v" for i in range(101)},
    ],
)
def test_tags_refused(people, model, tags):
    with pytest.raises(ValidationError):
        validate_tags(tags)
    with pytest.raises(ValidationError) as excinfo:
        register(actor=people.author, model=model, version="1.0.0", tags=tags)
    assert "tags" in excinfo.value.message_dict


def test_tags_accepted():
    assert validate_tags({"owner": "fraud", "dataset": "txn-2024-06 (EU)"}) == {
        "owner": "fraud",
        "dataset": "txn-2024-06 (EU)",
    }


# --- Artifact URIs --------------------------------------------------------------------------

BAD_URIS = [
    "../../etc/passwd",
    "/etc/passwd",
    "s3://b/../../etc/passwd",
    "s3://b/..%2f..%2fetc",
    "s3://b/..%2F..%2Fetc",
    "s3://b/%2e%2e/%2e%2e/etc/passwd",
    "s3://b/%2E%2E/secret",
    "s3://b/%252e%252e/%252e%252e/etc/passwd",
    "s3://b/%25252e%25252e/etc",
    "s3://b/models\\..\\..\\etc\\passwd",
    "s3://b/models%5c..%5c..%5cetc",
    "https://host/models/..",
    "https://host/model#../../etc/passwd",
    "https://host/model%23frag",
    "s3://b/model;../../etc",
    "s3://b/model%3bjsessionid=1",
    "runs:/abc/../../../etc/passwd",
    "models:/fraud/../../x",
    "mlflow-artifacts:/../../etc",
    "s3://b/a%00.pkl",
    "file:///etc/shadow",
    "file:///data/model.pkl",
    "ftp://host/model",
    "http://host/model",  # plain http is not on the default allow-list
    "javascript:alert(1)",
    "s3:///no-bucket",
    "https:///no-host",
    "s3://b/model with space",
    "",
    None,
]
GOOD_URIS = [
    "s3://bucket/models/fraud/1.0.0/model.pkl",
    "gs://bucket/path/to/model",
    "https://models.example.com/fraud/model.onnx",
    "runs:/0a1b2c3d/model",
    "models:/fraud_detector/3",
    "mlflow-artifacts:/1/0a1b2c/artifacts/model",
    "s3://bucket/v1..2/model",  # '..' inside a name is not a traversal
]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_artifact_uri_traversal_and_disallowed_schemes_refused(people, model, uri):
    with pytest.raises(ValidationError):
        validate_artifact_uri(uri)
    if uri:  # an empty URI means "no artifact yet" to the register service
        with pytest.raises(ValidationError) as excinfo:
            register(actor=people.author, model=model, version="1.0.0", artifact_uri=uri)
        assert "artifact_uri" in excinfo.value.message_dict


@pytest.mark.parametrize("uri", GOOD_URIS)
def test_artifact_uri_allowed_schemes_accepted(people, model, uri):
    assert validate_artifact_uri(uri) == uri
    v = register(actor=people.author, model=model, version="1.0.0", artifact_uri=uri)
    assert v.artifact_uri == uri


def test_file_uris_only_when_enabled_and_still_without_traversal(settings):
    with pytest.raises(ValidationError, match="scheme 'file' is not allowed"):
        validate_artifact_uri("file:///data/model.pkl")
    settings.REGISTRY_ARTIFACT_SCHEMES = [*settings.REGISTRY_ARTIFACT_SCHEMES, "file"]
    assert validate_artifact_uri("file:///data/model.pkl") == "file:///data/model.pkl"
    for uri in ("file:///data/../etc/shadow", "file:///data/%2e%2e/etc/shadow", "file:rel/x"):
        with pytest.raises(ValidationError):
            validate_artifact_uri(uri)


# Percent-encodings that are not UTF-8: `unquote` turned their bytes into U+FFFD and let
# them through, while a lenient consumer may read `%c0%af` as '/' and `%c0%ae` as '.'.
INVALID_UTF8_URIS = [
    "s3://b/..%c0%af..%c0%afetc/passwd",  # overlong '/'
    "s3://b/%c0%ae%c0%ae/%c0%ae%c0%ae/etc",  # overlong '.'
    "s3://b/x%e0%80%afetc",  # three-byte overlong '/'
    "s3://b/%25c0%25af%25c0%25afetc",  # the overlong '/' encoded twice
    "https://host/models/a%80b",  # a continuation byte with no lead byte
    "https://host/models/%c3",  # a lead byte with no continuation
    "https://host/models/%c3%28",  # a lead byte followed by a non-continuation byte
    "gs://b/%ed%a0%80",  # an encoded UTF-16 surrogate
    "runs:/abc/%f8%88%80%80%80",  # a five-byte form
    "s3://b/caf\u00e9%a9",  # a literal 'é' then a stray continuation byte
]
TRAVERSAL_URIS = [
    "s3://b/%2e%2e/etc",
    "s3://b/x/%2E%2e%2Fetc",
    "s3://b/%252e%252e/%252e%252e/etc",
    "s3://b/%25252e%25252e%25252fetc",
    "s3://b/models\\..\\etc",
    "s3://b/models/..%5cetc",
    "s3://b/models%5c%2e%2e%5cetc",
    "s3://b/models%255c%252e%252e%255cetc",
    "s3://b/models/%2e%2e\\x",
    "runs:/abc\\..%2f..%5cetc",
]


@pytest.mark.parametrize("uri", INVALID_UTF8_URIS)
def test_artifact_uri_that_is_not_utf8_once_decoded_is_refused(people, model, uri):
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        validate_artifact_uri(uri)
    with pytest.raises(ValidationError) as excinfo:
        register(actor=people.author, model=model, version="1.0.0", artifact_uri=uri)
    assert "not valid UTF-8" in " ".join(excinfo.value.message_dict["artifact_uri"])
    assert not model.versions.exists()


@pytest.mark.parametrize("uri", TRAVERSAL_URIS)
def test_encoded_and_backslashed_traversal_is_refused(people, model, uri):
    with pytest.raises(ValidationError, match="'\\.\\.' path segments"):
        validate_artifact_uri(uri)
    with pytest.raises(ValidationError):
        register(actor=people.author, model=model, version="1.0.0", artifact_uri=uri)
    assert not model.versions.exists()


def test_valid_utf8_escapes_and_literals_are_still_accepted(people, model):
    for number, uri in enumerate(
        ["s3://b/caf%C3%A9/model.pkl", "s3://b/caf\u00e9/model.pkl", "gs://b/%E2%82%AC/m"]
    ):
        assert validate_artifact_uri(uri) == uri
        register(actor=people.author, model=model, version=f"1.0.{number}", artifact_uri=uri)


@pytest.mark.parametrize(
    "uri",
    [
        "registry:/artifacts/fraud_detector/1.0.0/0123456789abcdef0123456789abcdef",
        "registry:/artifacts/pricing/2.0.0/x",
        "REGISTRY:/artifacts/fraud_detector/1.0.0/x",
        "Registry:artifacts/fraud_detector/1.0.0/x",
        "registry://fraud/1.0.0",
    ],
)
def test_registry_uris_are_refused_from_clients_at_registration(people, model, uri):
    before = model.last_number
    with pytest.raises(ValidationError) as excinfo:
        register(
            actor=people.author,
            model=model,
            version="1.0.0",
            artifact_uri=uri,
            artifact_sha256="a" * 64,
            artifact_size=1,
        )
    messages = excinfo.value.message_dict
    assert list(messages) == ["artifact_uri"]
    assert "made only by the registry" in messages["artifact_uri"][0]
    assert not model.versions.exists()
    model.refresh_from_db()
    assert model.last_number == before


def test_artifact_sha256_and_size_validated_at_registration(people, model):
    with pytest.raises(ValidationError) as excinfo:
        register(
            actor=people.author,
            model=model,
            version="1.0.0",
            artifact_sha256="ABC",
            artifact_size=-1,
        )
    assert set(excinfo.value.message_dict) == {"artifact_sha256", "artifact_size"}


def test_register_reports_every_invalid_field_at_once(people, model):
    with pytest.raises(ValidationError) as excinfo:
        register(
            actor=people.author,
            model=model,
            version="1.0",
            metrics={"a": float("nan")},
            tags={"k": 1},
            artifact_uri="../x",
            data_version="bad\x00",
        )
    assert set(excinfo.value.message_dict) == {
        "version",
        "metrics",
        "tags",
        "artifact_uri",
        "data_version",
    }
