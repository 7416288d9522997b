"""Every time on the dashboard says its zone, in one format: a <time> element whose
datetime is ISO 8601 in UTC and whose title is the exact time in UTC, showing
"2026-12-07 21:40 UTC" (or an age, "12 days", with the exact time in the title).

The walk follows the links of the demo's pages, from the models list, and checks each
page: no time is shown outside such an element."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings

from approvals_app import services as approvals
from models_app import accounts
from models_app.enums import Stage
from models_app.models import ModelVersion
from webhooks_app import services as webhooks
from webhooks_app.models import Subscription

ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
SHOWN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
TITLE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
AGE = re.compile(r"\d+\xa0(day|hour|minute)s?")
# A clock time anywhere in the text people read, with or without a date before it.
CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
# A date on its own (not part of a path or a name, as a data version's s3://…/2026-10-01).
DATE = re.compile(r"(?<![\w/.-])\d{4}-\d{2}-\d{2}(?![\w/.-])")
# Pages the walk does not open: downloads, actions, the admin and the API.
SKIP = ("/audit/export", "/api/", "/admin/", "/accounts/", "/artifact/", "/static/")
LIMIT = 120


class _Times(HTMLParser):
    """The <time> elements of a page (attributes and text), the text outside them, and the
    text of charts (SVG, whose tooltips cannot hold a <time> element)."""

    def __init__(self):
        super().__init__()
        self.times: list[dict] = []
        self.outside: list[str] = []
        self.links: list[str] = []
        self.in_charts: list[str] = []
        self._in_time: dict | None = None
        self._skip = 0
        self._svg = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "svg":
            self._svg += 1
        if tag == "time":
            self._in_time = {**attrs, "text": ""}
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "svg":
            self._svg -= 1
        if tag == "time" and self._in_time is not None:
            self.times.append(self._in_time)
            self._in_time = None

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_time is not None:
            self._in_time["text"] += data
        elif self._svg:
            self.in_charts.append(data)
        else:
            self.outside.append(data)


def _problems(html: str) -> tuple[list[str], _Times]:
    page = _Times()
    page.feed(html)
    problems = []
    for t in page.times:
        text = t["text"].strip()
        if not ISO_UTC.fullmatch(t.get("datetime") or ""):
            problems.append(f"datetime not ISO UTC: {t}")
        if not TITLE.fullmatch(t.get("title") or ""):
            problems.append(f"title not the exact UTC time: {t}")
        if not (SHOWN.fullmatch(text) or AGE.fullmatch(text)):
            problems.append(f"shown neither as a UTC time nor as an age: {t}")
    for text in page.outside:
        if CLOCK.search(text) or DATE.search(text):
            problems.append(f"a time outside <time>: {text.strip()[:120]!r}")
    for text in page.in_charts:
        # A chart's tooltip names its time in the one format, with the zone.
        if CLOCK.search(text) and not SHOWN.search(text):
            problems.append(f"a time in a chart without its zone: {text.strip()[:120]!r}")
    return problems, page


@pytest.fixture
def demo(db, settings):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    with override_settings(DEBUG=True):
        call_command("seed_demo", stdout=StringIO())
    admin = get_user_model().objects.get(username="admin")
    # What the demo does not make: API tokens, and a webhook with a rotated secret and a
    # pending delivery (of a review request).
    accounts.api_token_create(actor=admin, user=admin, reason="walk")
    accounts.api_token_create(actor=admin, user=admin, reason="forever", expiry=None)
    sub = webhooks.subscription_create(actor=admin, url="http://127.0.0.1:9/hook")
    webhooks.subscription_update(actor=admin, subscription=sub, rotate_secret=True)
    staging = ModelVersion.objects.filter(stage=Stage.STAGING).select_related("created_by")[0]
    approvals.review_request(actor=staging.created_by, version=staging)
    assert sub.deliveries.exists()
    return admin


def test_every_time_on_the_demos_pages_says_utc(demo, client):
    client.force_login(demo)
    start = ["/", "/reviews/", "/audit/", "/account/tokens/", "/webhooks/"]
    start += [
        f"/models/{mv.registered_model.name}/versions/{mv.version}/"
        for mv in ModelVersion.objects.select_related("registered_model")
    ]
    seen: set[str] = set()
    queue = list(start)
    counted_times = 0
    while queue and len(seen) < LIMIT:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        if not response["Content-Type"].startswith("text/html"):
            continue
        problems, page = _problems(response.content.decode())
        assert problems == [], url
        counted_times += len(page.times)
        for href in page.links:
            href = urldefrag(href).url
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not href.startswith("/"):
                continue
            if href.startswith(SKIP) or href in seen:
                continue
            queue.append(href)
    visited = " ".join(sorted(seen))
    webhook = f"/webhooks/{Subscription.objects.get().pk}/"  # ids differ by database
    for must in ("/models/", "/compare/", webhook, "/reviews/", "/audit/"):
        assert must in visited, must
    assert counted_times > 100


def test_the_time_filter_renders_utc_whatever_the_zone_given():
    moment = dt.datetime(2026, 12, 7, 22, 40, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    html = Template("{% load registry_tags %}{{ t|when }}").render(Context({"t": moment}))
    assert html == (
        '<time datetime="2026-12-07T21:40:05Z" title="2026-12-07 21:40:05 UTC">'
        "2026-12-07 21:40 UTC</time>"
    )
    age = Template('{% load registry_tags %}{{ t|when:"age" }}').render(Context({"t": moment}))
    assert 'title="2026-12-07 21:40:05 UTC"' in age and "UTC</time>" not in age
    missing = Template("{% load registry_tags %}{{ t|when }}").render(Context({"t": None}))
    assert missing == "—"
