"""The OpenAPI schema is valid and complete, and the interactive docs load under our CSP."""

from __future__ import annotations

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

API_PATTERNS = [path("api/", include("registry_site.api_urls"))]


@pytest.fixture
def api_schema(capsys):
    # drf-spectacular prints each warning and error once to stderr; reset forgets the ones
    # that earlier tests already printed.
    GENERATOR_STATS.reset()
    capsys.readouterr()
    schema = SchemaGenerator(patterns=API_PATTERNS).get_schema(request=None, public=True)
    problems = capsys.readouterr().err
    GENERATOR_STATS.reset()
    return schema, problems


def test_schema_of_the_v1_api_has_no_warnings_and_validates(api_schema):
    schema, problems = api_schema
    assert problems == ""
    validate_schema(schema)


def test_schema_lists_every_endpoint_of_the_spec(api_schema):
    schema, _ = api_schema
    ops = {(p, m) for p, item in schema["paths"].items() for m in item}
    m, v = "/api/v1/models/{name}", "/api/v1/models/{name}/versions/{version}"
    expected = {
        ("/api/v1/models/", "get"), ("/api/v1/models/", "post"),
        (f"{m}/", "get"), (f"{m}/", "patch"),
        (f"{m}/versions/", "get"), (f"{m}/versions/", "post"),
        (f"{v}/", "get"), (f"{v}/", "patch"),
        (f"{m}/production/", "get"), (f"{v}/checks/", "get"),
        (f"{v}/promote/", "post"), (f"{v}/archive/", "post"), (f"{v}/deprecate/", "post"),
        (f"{m}/rollback/", "post"), (f"{m}/rename/", "post"),
        (f"{v}/card/", "get"), (f"{v}/card/", "put"),
        (f"{v}/reviews/", "get"), (f"{v}/reviews/", "post"), (f"{v}/request-review/", "post"),
        (f"{v}/artifact/", "get"), (f"{v}/artifact/", "put"),
        (f"{m}/policy/", "get"), (f"{m}/policy/", "put"),
        (f"{m}/history/", "get"), ("/api/v1/audit/", "get"),
        ("/api/v1/auth/token/", "post"), ("/api/v1/auth/token/", "delete"),
    }  # fmt: skip
    assert expected <= ops


def test_every_operation_declares_its_errors_in_the_error_shape(api_schema):
    schema, _ = api_schema
    for route, item in schema["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert any(c.startswith("2") or c == "304" for c in codes), (route, method)
            errors = [c for c in codes if c[0] in "45"]
            assert errors, (route, method)
            for code in errors:
                ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/Error"), (route, method, code)
            assert "401" in codes, (route, method)


def test_transitions_document_the_guard_failure_409(api_schema):
    schema, _ = api_schema
    promote = schema["paths"]["/api/v1/models/{name}/versions/{version}/promote/"]["post"]
    assert "409" in promote["responses"]
    assert "guards_failed" in str(promote["responses"]["409"])


def test_stage_is_read_only_in_the_schema(api_schema):
    schema, _ = api_schema
    components = schema["components"]["schemas"]
    assert "stage" not in components["PatchedVersionUpdateInputRequest"]["properties"]
    assert components["VersionOutput"]["properties"]["stage"].get("readOnly") is True


def test_served_schema_validates(people, client_for):
    r = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert r.status_code == 200
    validate_schema(yaml.safe_load(r.content))


def test_spectacular_command_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "openapi: 3" in out.read_text()


def test_docs_page_loads_without_inline_scripts():
    client = APIClient()
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    csp = r["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    for attrs, body in scripts:
        assert "src=" in attrs and body.strip() == "", attrs
    # Every script and stylesheet is ours (drf-spectacular-sidecar), never from a CDN.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url
        if url.startswith(settings.STATIC_URL) or url.startswith("/" + settings.STATIC_URL):
            assert finders.find(url.split(settings.STATIC_URL, 1)[1]), url
        else:
            r = client.get(url)
            assert r.status_code == 200, url
            assert r["Content-Type"] == "application/javascript"


LISTS = [
    ("/api/v1/models/", "PaginatedModelList"),
    ("/api/v1/models/{name}/versions/", "PaginatedVersionList"),
    ("/api/v1/models/{name}/history/", "PaginatedAuditEventList"),
    ("/api/v1/audit/", "PaginatedAuditEventList"),
    ("/api/v1/models/{name}/versions/{version}/reviews/", "PaginatedReviewList"),
    ("/api/v1/webhooks/", "PaginatedSubscriptionList"),
    ("/api/v1/webhooks/{id}/deliveries/", "PaginatedDeliveryList"),
    ("/api/v1/federation/registries/", "PaginatedRegistryList"),
    ("/api/v1/federation/audit/", "PaginatedMirroredAuditList"),
]


@pytest.mark.parametrize(("route", "component"), LISTS)
def test_lists_are_described_with_cursors_and_no_count(route, component):
    # The whole site's schema: the webhook and federation routes are mounted beside v1.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    op = schema["paths"][route]["get"]
    params = {p["name"] for p in op.get("parameters", [])}
    assert {"cursor", "page_size"} <= params and "page" not in params
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/" + component)
    shape = schema["components"]["schemas"][component]
    assert set(shape["properties"]) == {"next", "previous", "results"}
    assert "400" in op["responses"]  # a bad cursor


def test_card_sections_carry_their_title_and_help(api_schema):
    from models_app.card_sections import CARD_SECTIONS

    schema, _ = api_schema
    sections = schema["components"]["schemas"]["CardOutput"]["properties"]["sections"]
    assert sections["additionalProperties"] is False
    assert sections["properties"] == {
        s.name: {"type": "string", "title": s.title, "description": s.help_text}
        for s in CARD_SECTIONS
    }


def test_delivery_log_describes_each_attempt():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    delivery = schema["components"]["schemas"]["DeliveryOutput"]
    log = delivery["properties"]["attempt_log"]
    assert log["type"] == "array" and log["readOnly"] is True
    assert log["items"]["$ref"].endswith("/DeliveryAttemptOutput")
    attempt = schema["components"]["schemas"]["DeliveryAttemptOutput"]["properties"]
    assert {"number", "started_at", "duration_ms", "status_code", "succeeded", "error"} <= set(
        attempt
    )
    detail = schema["paths"]["/api/v1/webhooks/deliveries/{id}/"]["get"]
    ref = detail["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/DeliveryOutput") and "404" in detail["responses"]
