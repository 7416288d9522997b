"""docs/operations.md and the Grafana dashboard name only metrics /metrics really has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

DOCS = Path(__file__).resolve().parents[1] / "docs"
METRIC = re.compile(r"\bregistry_[a-z_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _exposed(client) -> set[str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.content.decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_the_grafana_dashboard_uses_only_exposed_metrics(client, db):
    dashboard = json.loads((DOCS / "grafana" / "registry.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    exposed = {_base(name) for name in _exposed(client)}
    assert used
    assert {_base(name) for name in used} <= exposed


def test_the_alert_rules_parse_and_use_only_exposed_metrics(client, db):
    text = (DOCS / "operations.md").read_text()
    rules_yaml = next(
        block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if "PrometheusRule" in block
    )
    rules = yaml.safe_load(rules_yaml)["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {
        "RegistryReadyzFailing",
        "RegistryHigh5xxRate",
        "RegistryWebhookBacklog",
        "RegistryWebhookDeadLetters",
        "RegistryFederationLag",
    }
    used = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    exposed = {_base(name) for name in _exposed(client)}
    assert {_base(name) for name in used} <= exposed
