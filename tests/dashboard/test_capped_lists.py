"""The dashboard's lists that grow with use (models, the review inbox, webhook deliveries)
count at most a cap of rows and say "N+" beyond it, instead of counting a whole table on
every page."""

from __future__ import annotations

from models_app import views
from models_app.paging import CappedPaginator
from tests.factories import make_model
from tests.queries import captured_queries


def test_models_list_counts_up_to_the_cap_and_says_so(people, login, monkeypatch):
    for name in ("alpha_model", "beta_model", "gamma_model"):
        make_model(actor=people.author, team=people.team, name=name)
    monkeypatch.setattr(views, "MODELS_PER_PAGE", 1)
    monkeypatch.setattr(CappedPaginator, "cap", 2)
    client = login(people.viewer)
    with captured_queries() as ctx:
        page = client.get("/").content.decode()
    assert "Page 1 of 2+ (2+ in all)" in page
    counts = [sql for sql in ctx if "COUNT(" in sql.upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


def test_models_list_under_the_cap_shows_the_exact_count(people, login, monkeypatch):
    for name in ("alpha_model", "beta_model"):
        make_model(actor=people.author, team=people.team, name=name)
    monkeypatch.setattr(views, "MODELS_PER_PAGE", 1)
    page = login(people.viewer).get("/").content.decode()
    assert "Page 1 of 2 (2 in all)" in page
