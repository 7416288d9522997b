"""Every dashboard page: 200 when signed in, a redirect to sign-in when not; headers."""

from __future__ import annotations

import pytest

from models_app import services
from tests.dashboard.conftest import version_url

PAGES = [
    "/",
    "/?q=fraud&team=fraud&stage=production",
    "/models/fraud_detector/",
    "/models/fraud_detector/versions/1.2.0/",
    "/models/fraud_detector/versions/1.1.0/",
    "/models/fraud_detector/versions/1.2.0/card/",
    "/models/fraud_detector/compare/",
    "/models/fraud_detector/compare/?a=1.0.0&b=1.2.0",
    "/reviews/",
    "/audit/",
    "/audit/?model=fraud_detector&user=release&action=version.promoted",
    "/audit/export.csv",
    "/audit/export.json",
    "/account/tokens/",
]


@pytest.mark.parametrize("url", PAGES)
def test_page_signed_in_is_200(people, scene, login, url):
    response = login(people.admin).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_page_anonymous_redirects_to_sign_in(scene, anon, url):
    response = anon.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("who", ["viewer", "author", "reviewer", "release", "outsider"])
def test_main_pages_each_role_is_200(people, scene, login, who):
    client = login(getattr(people, who))
    for url in ["/", "/models/fraud_detector/", version_url(scene.candidate), "/reviews/"]:
        assert client.get(url).status_code == 200, url


def test_unknown_model_and_version_are_404(people, scene, login):
    client = login(people.viewer)
    assert client.get("/models/nope/").status_code == 404
    assert client.get("/models/fraud_detector/versions/9.9.9/").status_code == 404
    assert client.get("/models/fraud_detector/compare/?a=9.9.9&b=1.0.0").status_code == 400


def test_sign_in_form_signs_in_and_post_signs_out(people, anon):
    page = anon.get("/accounts/login/")
    assert page.status_code == 200
    assert b'<label for="id_username"' in page.content
    bad = anon.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    assert bad.status_code == 200
    assert b"Please enter a correct username and password" in bad.content
    good = anon.post("/accounts/login/", {"username": "viewer", "password": "pw"})
    assert good.status_code == 302
    assert anon.get("/").status_code == 200
    # Signing out is a POST (a GET link could be fired by another site).
    assert anon.get("/accounts/logout/").status_code == 405
    assert anon.post("/accounts/logout/").status_code == 302
    assert anon.get("/").status_code == 302


def test_security_headers_forbid_inline_code_and_framing(people, scene, login):
    response = login(people.viewer).get("/models/fraud_detector/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_or_style(people, scene, login):
    client = login(people.admin)
    for url in PAGES[:11]:
        html = client.get(url).content.decode()
        assert "<script" not in html, url
        assert "style=" not in html, url
        assert "<style" not in html, url


def test_nav_shows_inbox_count_for_reviewer(people, scene, login):
    html = login(people.reviewer).get("/").content.decode()
    assert 'id="inbox-count" aria-label="1 waiting">1</span>' in html


def test_models_list_shows_production_latest_and_stage_counts(people, scene, login):
    html = login(people.viewer).get("/").content.decode()
    assert ">1.1.0</a>" in html  # production
    assert ">1.2.0</a>" in html  # latest
    assert "badge-archived" in html
    filtered = login(people.viewer).get("/?team=pricing").content.decode()
    assert "fraud_detector" not in filtered
    assert "No model matches these filters." in filtered
    by_stage = login(people.viewer).get("/?stage=deprecated").content.decode()
    assert "fraud_detector" not in by_stage
    search = login(people.viewer).get("/?q=fraud_det").content.decode()
    assert "fraud_detector" in search


def test_model_page_puts_production_first_with_deltas_chart_and_policy(people, scene, login):
    # accuracy is better higher because the site's policy says so; without a direction
    # its changes would be neutral.
    services.policy_update(actor=people.admin, model=None, metric_directions={"accuracy": "higher"})
    html = login(people.viewer).get("/models/fraud_detector/").content.decode()
    rows = html.split('class="data versions-table"')[1]
    assert rows.index(">1.1.0</a>") < rows.index(">1.2.0</a>") < rows.index(">1.0.0</a>")
    assert "▲ +0.02 <span" in html and "better</span>" in html  # 1.2.0 accuracy vs 1.1.0
    assert "▼ −0.02 <span" in html and "worse</span>" in html  # 1.0.0 accuracy vs 1.1.0
    assert "<svg" in html and "Key metrics across versions" in html
    assert "follows the site&#x27;s default promotion policy" in html
    assert "1 approval of the current model card revision" in html
    # A viewer may not roll back, so there is no rollback form.
    assert "Review rollback" not in html


def test_version_page_shows_lineage_checklist_card_and_timeline(people, scene, login):
    html = login(people.viewer).get(version_url(scene.candidate)).content.decode()
    for text in ["s3://data/fraud/2026-11", "abc1234", "run-42", "depth", "Intended use text."]:
        assert text in html
    assert "✓" in html and "✗" in html
    assert "0 of 1 required approvals of card revision 2" in html
    assert "Review requested" in html and "Version registered" in html
    # A viewer sees no forms that change anything.
    for action in ["/review/", "/promote/", "/archive/", "/deprecate/", "/request-review/"]:
        assert version_url(scene.candidate, action[1:]) not in html


def test_version_page_links_registry_artifacts_to_api_download(
    people, model, login, settings, tmp_path
):
    import hashlib

    from models_app import services, storage
    from models_app.models import ModelVersion
    from tests.factories import register

    settings.MEDIA_ROOT = str(tmp_path)
    mv = register(actor=people.author, model=model, version="3.0.0")
    stored = storage.store_stream(mv, [b"model bytes"], limit=1000)
    services.model_version_attach_artifact(
        actor=people.author, version=mv, uri=stored.uri, sha256=stored.sha256, size=stored.size
    )
    html = login(people.viewer).get(version_url(mv)).content.decode()
    assert 'href="/api/v1/models/fraud_detector/versions/3.0.0/artifact/"' in html
    assert hashlib.sha256(b"model bytes").hexdigest() in html
    # A registry: URI that no upload to this version made (a row from before clients were
    # refused them) is text, not a download link.
    borrowed = register(actor=people.author, model=model, version="3.0.2")
    ModelVersion.objects.filter(pk=borrowed.pk).update(artifact_uri=stored.uri)
    html = login(people.viewer).get(version_url(borrowed)).content.decode()
    assert stored.uri in html
    assert "/versions/3.0.2/artifact/" not in html
    other = register(
        actor=people.author, model=model, version="3.0.1", artifact_uri="s3://bucket/m.bin"
    )
    html = login(people.viewer).get(version_url(other)).content.decode()
    assert "s3://bucket/m.bin" in html
    assert 'href="s3://' not in html


def test_compare_shows_metric_deltas_and_escaped_card_diff(people, scene, login):
    from approvals_app import services as approvals

    approvals.card_update(
        actor=people.author,
        version=scene.candidate,
        sections={"limitations": "Weak on <b>tiny</b> merchants."},
    )
    html = login(people.viewer).get("/models/fraud_detector/compare/?a=1.1.0&b=1.2.0").content
    html = html.decode()
    assert "▲ +0.02" in html
    assert 'class="diff-add">+Weak on &lt;b&gt;tiny&lt;/b&gt; merchants.</span>' in html
    assert 'class="diff-del">-Limitations text.</span>' in html


BAD_URLS = [
    "/models/%00/",
    "/models/fraud%00detector/",
    "/models/fraud_detector/versions/1.0.0%00/",
    "/models/fraud_detector/versions/%E2%80%AE1.0.0/",
    "/models/fraud_detector/compare/?a=%00&b=1.0.0",
    "/?q=%00&team=%00&stage=nope&page=abc",
    "/?page=999999",
    "/audit/?model=%00&user=%00&action=nope&since=0000-00-00&until=9999-12-31",
    "/audit/?since=9999-12-31&until=9999-12-31",
    "/audit/export.csv?until=9999-12-31",
    "/audit/export.json?model=%00",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_input_in_addresses_is_never_a_server_error(people, scene, login, url):
    response = login(people.admin).get(url)
    assert response.status_code in (200, 400, 404)


def test_bad_input_in_forms_is_never_a_server_error(people, scene, login):
    client = login(people.admin)
    posts = [
        (
            version_url(scene.candidate, "review/"),
            {"review-decision": "\x00", "review-comment": "\x00"},
        ),
        (version_url(scene.candidate, "promote/"), {"promote-reason": "ok\x00"}),
        (version_url(scene.candidate, "archive/"), {"archive-reason": "\u202egnp"}),
        (version_url(scene.candidate, "card/"), {"intended_use": "a\x00b"}),
        ("/models/fraud_detector/rollback/", {"to_version": "\x00", "reason": "x"}),
        ("/account/tokens/", {"expiry_days": "-1"}),
        ("/account/tokens/revoke/", {"token_key": "\x00"}),
    ]
    for url, data in posts:
        # A refusal redirects to the page the form is on, which answers with its status.
        response = client.post(url, data, follow=True)
        assert response.status_code in (400, 404), (url, response.status_code)


def test_timeline_names_review_decisions(people, scene, login):
    from approvals_app import services as approvals

    approvals.review_submit(
        actor=people.reviewer, version=scene.candidate, decision="request_changes", comment="More"
    )
    html = login(people.viewer).get(version_url(scene.candidate)).content.decode()
    assert '<span class="decision decision-request_changes">request changes</span>' in html
    audit = login(people.viewer).get("/audit/?action=review.submitted").content.decode()
    assert "Review submitted: <span" in audit


def test_model_without_versions_renders_every_page(people, model, login):
    client = login(people.release)
    html = client.get("/models/fraud_detector/").content.decode()
    assert "No versions registered yet." in html
    assert "No version is in production." in html
    assert client.get("/models/fraud_detector/compare/").status_code == 200
    assert "none</span>" in client.get("/").content.decode()


def test_nav_inbox_count_stops_at_its_cap(people, model, login, monkeypatch):
    """The count runs on every page, so it stops at a cap: past it the bar says "N+"."""
    from approvals_app import context_processors
    from approvals_app import services as approvals
    from tests.factories import register
    from tests.queries import captured_queries

    monkeypatch.setattr(context_processors, "INBOX_COUNT_CAP", 2)
    client = login(people.reviewer)
    for i in range(2):
        mv = register(actor=people.author, model=model, version=f"1.{i}.0")
        approvals.review_request(actor=people.author, version=mv)
    assert 'id="inbox-count" aria-label="2 waiting">2</span>' in client.get("/").content.decode()
    mv = register(actor=people.author, model=model, version="1.2.0")
    approvals.review_request(actor=people.author, version=mv)
    with captured_queries() as queries:
        html = client.get("/").content.decode()
    assert 'id="inbox-count" aria-label="2+ waiting">2+</span>' in html
    inbox = [q for q in queries if "COUNT(" in q.upper() and "approvals_app_modelcard" in q]
    assert len(inbox) == 1 and "LIMIT 3" in inbox[0].upper()
    assert "fraud_detector 1.2.0" in client.get("/reviews/").content.decode()
