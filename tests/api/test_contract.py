"""Every endpoint × every role: allowed, forbidden (403) and
anonymous (401), each answer in the one error shape; and audit rows made through a token
name the token's user."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from approvals_app.cards import content_sha256
from models_app.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import FULL_CARD, make_promotable, register

ROLES = ("viewer", "author", "outsider", "reviewer", "release", "admin")
EVERYONE = set(ROLES)
BASE = "/api/v1/models/fraud_detector"
V = f"{BASE}/versions/1.0.0"


@dataclass
class Case:
    name: str
    method: str
    url: str
    allowed: set[str]
    ok: int = 200
    body: object = None
    setup: str = "staging"
    raw: bytes | None = None
    headers: dict = field(default_factory=dict)


CASES = [
    Case("models list", "get", "/api/v1/models/", EVERYONE),
    Case(
        "models create",
        "post",
        "/api/v1/models/",
        {"author", "admin"},
        201,
        {"name": "new_model", "team": "fraud"},
    ),
    Case("model get", "get", f"{BASE}/", EVERYONE),
    Case("model patch", "patch", f"{BASE}/", {"author", "admin"}, body={"description": "d"}),
    Case("model rename", "post", f"{BASE}/rename/", {"admin"}, body={"new_name": "renamed"}),
    Case("versions list", "get", f"{BASE}/versions/", EVERYONE),
    Case(
        "version register",
        "post",
        f"{BASE}/versions/",
        {"author", "admin"},
        201,
        {"version": "2.0.0", "metrics": {"accuracy": 0.9}},
    ),
    Case("version get", "get", f"{V}/", EVERYONE),
    Case("version patch", "patch", f"{V}/", {"author", "admin"}, body={"tags": {"a": "b"}}),
    Case("production", "get", f"{BASE}/production/", EVERYONE, setup="production"),
    Case("checks", "get", f"{V}/checks/", EVERYONE),
    Case("promote", "post", f"{V}/promote/", {"release", "admin"}, body={"reason": "go"}),
    Case("archive", "post", f"{V}/archive/", {"release", "admin"}, body={"reason": "old"}),
    Case("deprecate", "post", f"{V}/deprecate/", {"release", "admin"}, body={"reason": "bad"}),
    Case(
        "rollback",
        "post",
        f"{BASE}/rollback/",
        {"release", "admin"},
        body={"reason": "bad"},
        setup="two_promoted",
    ),
    Case("card get", "get", f"{V}/card/", EVERYONE),
    Case(
        "card put",
        "put",
        f"{V}/card/",
        {"author", "admin"},
        body={"sections": {"limitations": "new text"}},
    ),
    Case("request review", "post", f"{V}/request-review/", {"author", "admin"}, body={}),
    Case("reviews list", "get", f"{V}/reviews/", EVERYONE),
    Case(
        "review submit",
        "post",
        f"{V}/reviews/",
        {"reviewer", "admin"},
        201,
        {"decision": "approve", "comment": "ok", "revision_sha256": content_sha256(FULL_CARD)},
    ),
    Case("artifact upload", "put", f"{V}/artifact/", {"author", "admin"}, 201, raw=b"model-bytes"),
    Case("artifact download", "get", f"{V}/artifact/", EVERYONE, setup="artifact"),
    Case("policy get", "get", f"{BASE}/policy/", EVERYONE),
    Case(
        "policy put",
        "put",
        f"{BASE}/policy/",
        {"admin"},
        body={"required_approvals": 2, "reason": "stricter"},
    ),
    Case("history", "get", f"{BASE}/history/", EVERYONE),
    Case("audit", "get", "/api/v1/audit/", EVERYONE),
]


def _setup(kind, people, model, promote):
    if kind == "production":
        promote(model, "1.0.0")
        return
    if kind == "two_promoted":
        promote(model, "0.9.0")
        promote(model, "1.0.0")
        return
    mv = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer2)
    if kind == "artifact":
        client = APIClient()
        client.force_authenticate(people.author)
        r = client.put(f"{V}/artifact/", b"bytes", content_type="application/octet-stream")
        assert r.status_code == 201


def _call(client, case: Case):
    if case.raw is not None:
        return client.generic(
            case.method.upper(), case.url, case.raw, content_type="application/octet-stream"
        )
    return getattr(client, case.method)(case.url, case.body, format="json")


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_endpoint_role_contract(people, model, promote, client_for, case, role):
    _setup(case.setup, people, model, promote)
    user = None if role == "anonymous" else getattr(people, role)
    r = _call(client_for(user), case)
    if role == "anonymous":
        assert r.status_code == 401, r.content
        assert error_of(r)["code"] == "not_authenticated"
        assert r["WWW-Authenticate"] == "Token"
    elif role in case.allowed:
        assert r.status_code == case.ok, r.content
    else:
        assert r.status_code == 403, r.content
        error = error_of(r)
        assert error["code"] == "permission_denied"
        assert role in error["message"] or people.__dict__[role].username in error["message"]


def test_every_endpoint_of_the_spec_is_in_the_contract_table():
    covered = {(c.method, c.url.replace(V, "{v}").replace(BASE, "{m}")) for c in CASES}
    spec = {
        ("get", "/api/v1/models/"),
        ("post", "/api/v1/models/"),
        ("get", "{m}/"),
        ("patch", "{m}/"),
        ("get", "{m}/versions/"),
        ("post", "{m}/versions/"),
        ("get", "{v}/"),
        ("patch", "{v}/"),
        ("get", "{m}/production/"),
        ("get", "{v}/checks/"),
        ("post", "{v}/promote/"),
        ("post", "{v}/archive/"),
        ("post", "{v}/deprecate/"),
        ("post", "{m}/rollback/"),
        ("get", "{v}/card/"),
        ("put", "{v}/card/"),
        ("get", "{v}/reviews/"),
        ("post", "{v}/reviews/"),
        ("put", "{v}/artifact/"),
        ("get", "{v}/artifact/"),
        ("get", "{m}/policy/"),
        ("put", "{m}/policy/"),
        ("get", "{m}/history/"),
        ("get", "/api/v1/audit/"),
    }
    assert spec <= covered


def test_audit_row_made_through_a_token_names_the_token_user(people, model):
    _, token = AuthToken.objects.create(user=people.author)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    r = client.post(f"{BASE}/versions/", {"version": "3.0.0"}, format="json")
    assert r.status_code == 201
    event = AuditEvent.objects.get(action="version.registered", version_label="3.0.0")
    assert event.actor_username == "author"
    assert event.actor_id == people.author.pk
    mv_history = model.versions.get(version="3.0.0").history.get()
    assert mv_history.history_username == "author"


def test_token_of_a_contributor_cannot_promote(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    _, token = AuthToken.objects.create(user=people.author)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    r = client.post(f"{V}/promote/", {"reason": "sneak"}, format="json")
    assert r.status_code == 403
    assert "may not promote versions" in error_of(r)["message"]


def test_author_cannot_review_own_version(people, model, client_for):
    mv = register(actor=people.author, model=model, version="1.0.0")
    client_for(people.author).put(f"{V}/card/", {"sections": FULL_CARD}, format="json")
    assert mv.pk
    sha = content_sha256(FULL_CARD)
    r = client_for(people.admin).post(
        f"{V}/reviews/", {"decision": "approve", "revision_sha256": sha}, format="json"
    )
    assert r.status_code == 201  # admin is not the author
    # The admin who edits the card becomes an author of the revision and may not review it.
    card = (
        client_for(people.admin)
        .put(f"{V}/card/", {"sections": {"evaluation": "v2"}}, format="json")
        .json()
    )
    r = client_for(people.admin).post(
        f"{V}/reviews/", {"decision": "approve", "revision_sha256": card["sha256"]}, format="json"
    )
    assert r.status_code == 403
    assert "Authors cannot review" in error_of(r)["message"]
