"""`modelreg signal` and `modelreg signals` against a live registry."""

from __future__ import annotations

import json

import pytest

from modelreg_cli import exit_codes
from modelreg_cli.main import main
from models_app.models import HealthSignal
from tests.cli.test_cli_live import cli, login  # noqa: F401 (the fixture)
from tests.factories import make_model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fraud(people, promote):
    model = make_model(actor=people.author, team=people.team, name="fraud_detector")
    return promote(model, "1.0.0")


def test_signal_and_signals(cli, monkeypatch, fraud):  # noqa: F811
    token = login(cli, monkeypatch, "release")
    code, out, err = cli(
        "signal",
        "fraud_detector",
        "drift_psi",
        "0.21",
        "--window",
        "10m",
        "--source",
        "job",
        token=token,
    )
    assert code == exit_codes.OK, err
    assert "Recorded drift_psi = 0.21 on fraud_detector 1.0.0 (window 10m)." in out
    code, out, err = cli("signal", "fraud_detector", "drift_psi", "0.25", token=token)
    assert code == exit_codes.OK, err
    code, out, err = cli("signals", "fraud_detector", token=token)
    assert code == exit_codes.OK, err
    assert out.splitlines()[0] == "fraud_detector 1.0.0"
    assert "drift_psi" in out and "0.25" in out
    code, out, err = cli(
        "signals", "fraud_detector", "--metric", "drift_psi", "--json", token=token
    )
    assert [s["value"] for s in json.loads(out)] == [0.25, 0.21]
    assert HealthSignal.objects.count() == 2


def test_signal_refusals(cli, monkeypatch, fraud):  # noqa: F811
    token = login(cli, monkeypatch, "release")
    code, _out, err = cli("signal", "fraud_detector", "fpr", "nan", token=token)
    assert code == exit_codes.USAGE and "finite" in err
    code, _out, err = cli("signal", "fraud_detector", "fpr", "1", "--window", "soon", token=token)
    assert code == exit_codes.VALIDATION and "window" in err
    code, _out, err = cli("signal", "fraud_detector", "fpr", "1", "--version", "9.0.0", token=token)
    assert code == exit_codes.NOT_FOUND
    viewer = login(cli, monkeypatch, "viewer")
    code, _out, err = cli("signal", "fraud_detector", "fpr", "1", token=viewer)
    assert code == exit_codes.PERMISSION
    assert not HealthSignal.objects.exists()


def test_value_must_be_a_number():
    assert main(["signal", "m", "fpr", "lots", "--url", "http://127.0.0.1:9"]) == exit_codes.USAGE
