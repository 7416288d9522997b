"""The compare page: parameters added, removed and changed, and version fields that stay
cheap however many versions a model has (suggestions of the latest, any label typed)."""

from __future__ import annotations

import re

from approvals_app import views as approvals_views
from tests.dashboard.bulk import bulk_versions
from tests.factories import register
from tests.queries import captured_queries

URL = "/models/fraud_detector/compare/"


def _section(page: str, heading_id: str) -> str:
    return page.split(f'id="{heading_id}"')[1].split("</section>")[0]


def test_parameters_added_removed_and_changed_are_listed(people, model, login):
    register(
        actor=people.author,
        model=model,
        version="1.0.0",
        params={"depth": 6, "lr": 0.1, "loss": "log", "seed": 7, "flag": 1},
    )
    register(
        actor=people.author,
        model=model,
        version="1.1.0",
        params={"depth": 8, "lr": 0.1, "seed": 7, "trees": 300, "flag": True},
    )
    page = login(people.viewer).get(URL + "?a=1.0.0&b=1.1.0").content.decode()
    params = re.sub(r"\s+", " ", _section(page, "cmp-params-h"))
    rows = re.findall(
        r'<tr class="param-(\w+)"><th scope="row"><code>([^<]*)</code></th><td>\w+</td>'
        r"<td>(.*?)</td><td>(.*?)</td></tr>",
        params,
    )
    cells = [
        (kind, name, re.sub(r"<[^>]+>", "", a), re.sub(r"<[^>]+>", "", b))
        for kind, name, a, b in rows
    ]
    assert cells == [
        ("changed", "depth", "6", "8"),
        ("changed", "flag", "1", "true"),  # 1 and true are not the same parameter value
        ("added", "trees", "—", "300"),
        ("removed", "loss", "log", "—"),
    ]
    assert "2 unchanged parameters" in params
    assert "<code>lr</code> = 0.1" in params and "<code>seed</code> = 7" in params


def test_same_and_missing_parameters_are_said_in_words(people, model, login):
    register(actor=people.author, model=model, version="1.0.0", params={"depth": 6})
    register(actor=people.author, model=model, version="1.1.0", params={"depth": 6})
    register(actor=people.author, model=model, version="1.2.0")
    register(actor=people.author, model=model, version="1.3.0")
    client = login(people.viewer)
    same = client.get(URL + "?a=1.0.0&b=1.1.0").content.decode()
    assert "The two versions have the same parameters." in same
    none = client.get(URL + "?a=1.2.0&b=1.3.0").content.decode()
    assert "Neither version records parameters." in none


def test_parameter_values_are_escaped(people, model, login):
    register(actor=people.author, model=model, version="1.0.0", params={"note": "a"})
    register(
        actor=people.author, model=model, version="1.1.0", params={"note": "<script>x</script>"}
    )
    page = login(people.viewer).get(URL + "?a=1.0.0&b=1.1.0").content.decode()
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def _suggestions(page: str) -> list[str]:
    datalist = page.split('<datalist id="compare-versions">')[1].split("</datalist>")[0]
    return re.findall(r'<option value="([^"]*)">', datalist)


def test_version_fields_suggest_a_bounded_list_and_take_any_label(
    people, model, promote, login, monkeypatch
):
    monkeypatch.setattr(approvals_views, "COMPARE_SUGGESTIONS", 5)
    promote(model, "0.1.0")
    bulk_versions(model=model, author=people.author, count=30)
    client = login(people.viewer)
    page = client.get(URL).content.decode()
    # The latest five and the production version; the default pair is the latest two.
    assert _suggestions(page) == ["10.29.0", "10.28.0", "10.27.0", "10.26.0", "10.25.0", "0.1.0"]
    assert 'name="a" value="10.28.0"' in page and 'name="b" value="10.29.0"' in page
    assert '<h2 id="cmp-params-h">' in page
    # Versions far from the latest can be typed; they join the suggestions.
    page = client.get(URL + "?a=10.3.0&b=10.4.0").content.decode()
    assert "10.3.0" in _suggestions(page) and "10.4.0" in _suggestions(page)
    assert len(_suggestions(page)) == 8
    assert 'href="/models/fraud_detector/versions/10.3.0/">10.3.0</a>' in page


def test_compare_query_count_does_not_grow_with_versions(people, model, promote, login):
    promote(model, "0.1.0")
    register(actor=people.author, model=model, version="0.2.0")
    client = login(people.viewer)
    client.get(URL)  # warm-up
    with captured_queries() as few:
        client.get(URL + "?a=0.1.0&b=0.2.0")
    bulk_versions(model=model, author=people.author, count=500)
    with captured_queries() as many:
        response = client.get(URL + "?a=0.1.0&b=0.2.0")
    assert response.status_code == 200
    assert len(many) == len(few)
    assert len(_suggestions(response.content.decode())) == approvals_views.COMPARE_SUGGESTIONS + 2


def test_unknown_or_malformed_labels_are_400_with_the_reason(people, model, login):
    register(actor=people.author, model=model, version="1.0.0")
    client = login(people.viewer)
    response = client.get(URL + "?a=9.9.9&b=1.0.0")
    assert response.status_code == 400
    assert "fraud_detector has no version 9.9.9." in response.content.decode()
    response = client.get(URL + "?a=latest&b=1.0.0")
    assert response.status_code == 400
    assert "Not a version label" in response.content.decode()
    assert client.get(URL + "?a=x%00&b=1.0.0").status_code == 400
    assert client.get(URL + "?a=1.0.0").status_code == 400


def test_a_model_without_versions_shows_the_form_only(people, model, login):
    response = login(people.viewer).get(URL)
    assert response.status_code == 200
    assert 'id="cmp-params-h"' not in response.content.decode()
