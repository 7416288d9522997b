"""`/healthz` answers that the process is up, to anyone, without touching the database."""

from __future__ import annotations

from tests.queries import captured_queries


def test_healthz_answers_anonymously_without_a_query(client, db):
    with captured_queries() as ctx:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert len(ctx) == 0


def test_healthz_takes_only_get(client, db):
    assert client.post("/healthz").status_code == 405


def test_healthz_is_not_redirected_to_https(client, db, settings):
    """A load balancer's plain-HTTP health check gets its answer; other pages are still
    redirected to HTTPS."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
