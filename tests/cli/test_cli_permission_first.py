"""`modelreg` against a live registry: a user without the permission gets exit code 4
(permission denied) for a transition whatever the version's stage and for a rollback to
any target, one that does not exist included; a release manager still gets 6 (refused)
or 5 (not found)."""

from __future__ import annotations

import pytest

from modelreg_cli import exit_codes
from models_app import selectors
from tests.cli.test_cli_live import cli, login  # noqa: F401 - the live CLI fixture
from tests.factories import make_model, make_promotable, register

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fraud(people):
    """1.0.0 archived after production, 1.1.0 in production."""
    from models_app import services

    model = make_model(actor=people.author, team=people.team, name="fraud_detector")
    for version in ("1.0.0", "1.1.0"):
        mv = register(actor=people.author, model=model, version=version)
        make_promotable(mv, author=people.author, reviewer=people.reviewer)
        services.model_version_promote(actor=people.release, version=mv, reason="ship")
    return model


COMMANDS = [
    (("promote", "fraud_detector", "1.1.0"), exit_codes.REFUSED),
    (("promote", "fraud_detector", "1.0.0"), exit_codes.REFUSED),
    (("archive", "fraud_detector", "1.0.0"), exit_codes.REFUSED),
    (("deprecate", "fraud_detector", "1.1.0"), exit_codes.REFUSED),
    (("rollback", "fraud_detector", "--to", "9.9.9"), exit_codes.NOT_FOUND),
    (("rollback", "fraud_detector", "--to", "7"), exit_codes.NOT_FOUND),
    (("rollback", "fraud_detector", "--to", "1.1.0"), exit_codes.REFUSED),
]


def test_permission_is_checked_before_the_stage_and_the_target(cli, monkeypatch, fraud):  # noqa: F811
    author = login(cli, monkeypatch, "author")
    release = login(cli, monkeypatch, "release")
    for argv, permitted in COMMANDS:
        code, _out, err = cli(*argv, "--reason", "r", token=author)
        assert code == exit_codes.PERMISSION, (argv, err)
        assert "may not" in err
        code, _out, err = cli(*argv, "--reason", "r", token=release)
        assert code == permitted, (argv, err)
    assert selectors.production_version(model=fraud).version == "1.1.0"
