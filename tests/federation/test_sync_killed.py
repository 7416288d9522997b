"""A catalog sync killed with SIGKILL at any point, then run again, leaves the central
catalog equal to the team registry's, field by field.

Both registries are real processes with databases of their own: the team registry is a
migrated copy of the central template seeded with the demo catalog, synced by
`manage.py sync_catalog` subprocesses that are killed at random points (after a random
number of acknowledged batches, plus a random delay that lands anywhere in the next
request: before it is sent, while the central registry applies it, or after its answer
but before the team registry stores the acknowledgement). Between kills the team registry
keeps changing. The random seed is printed, so a failure can be replayed with
SYNC_KILL_SEED.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.federation.conftest import ROOT, _env, _manage

pytestmark = pytest.mark.slow  # registries and syncs in subprocesses

REGISTRY_ID = "team-kill"

# The team registry's catalog as the central registry should mirror it: every field a
# sync carries, keyed by what identifies it at the origin.
TEAM_DUMP = """
import json
from approvals_app.models import ModelCard, Review
from federation_app.sync import NOT_OURS
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
models = {}
for m in RegisteredModel.objects.filter(origin="").order_by("pk"):
    models[m.name] = {"description": m.description, "tags": m.tags, "versions": {}}
for v in ModelVersion.objects.filter(registered_model__origin="").select_related(
        "registered_model", "created_by"):
    card = ModelCard.objects.filter(model_version=v).select_related("current_revision").first()
    revision = card.current_revision if card else None
    models[v.registered_model.name]["versions"][v.version] = {
        "number": v.number, "stage": v.stage, "was_promoted": v.promoted_at is not None,
        "description": v.description, "tags": v.tags, "metrics": v.metrics,
        "params": v.params, "artifact_uri": v.artifact_uri,
        "artifact_sha256": v.artifact_sha256, "artifact_size": v.artifact_size,
        "data_version": v.data_version, "code_version": v.code_version,
        "source_run": v.source_run,
        "card": [revision.number, revision.sha256, revision.sections()] if revision else None,
        "reviews": sorted(
            [r.pk, r.reviewer_username, r.decision, r.comment, r.revision.number]
            for r in Review.objects.filter(model_version=v).select_related("revision")
        ),
    }
events = sorted(
    [e.pk, e.action, e.actor_username, e.reason]
    for e in AuditEvent.objects.exclude(NOT_OURS)
)
print(json.dumps({"models": models, "events": events}))
"""

# The same, read from the central registry's mirror of origin ORIGIN.
CENTRAL_DUMP = """
import json
from federation_app.models import (
    MirroredAuditEvent, MirroredCard, MirroredModel, MirroredReview, MirroredVersion)
from models_app.models import ModelVersion
ORIGIN = %r
models = {}
for link in MirroredModel.objects.filter(origin=ORIGIN).select_related("registered_model"):
    m = link.registered_model
    assert m.name == ORIGIN + "." + link.origin_name, (m.name, link.origin_name)
    models[link.origin_name] = {"description": m.description, "tags": m.tags, "versions": {}}
    for v in ModelVersion.objects.filter(registered_model=m):
        card = MirroredCard.objects.filter(model_version=v).first()
        models[link.origin_name]["versions"][v.version] = {
            "number": v.number, "stage": v.stage, "was_promoted": v.promoted_at is not None,
            "description": v.description, "tags": v.tags, "metrics": v.metrics,
            "params": v.params, "artifact_uri": v.artifact_uri,
            "artifact_sha256": v.artifact_sha256, "artifact_size": v.artifact_size,
            "data_version": v.data_version, "code_version": v.code_version,
            "source_run": v.source_run,
            "card": [card.revision, card.sha256, card.sections] if card else None,
            "reviews": sorted(
                [r.origin_id, r.reviewer_username, r.decision, r.comment, r.revision]
                for r in MirroredReview.objects.filter(model_version=v)
            ),
        }
        mirror = MirroredVersion.objects.get(model_version=v)
        assert mirror.origin_stage == v.stage, (v, mirror.origin_stage)
events = sorted(
    [e.origin_id, e.action, e.actor_username, e.reason]
    for e in MirroredAuditEvent.objects.filter(origin=ORIGIN)
)
print(json.dumps({"models": models, "events": events}))
"""

# Changes the team registry makes between two interrupted syncs, through its services as
# its users would: a model's description, a new version and, every other time, a rollback
# of the first model that has an earlier production version to restore.
TEAM_CHANGE = """
from django.contrib.auth import get_user_model
from models_app import services
from models_app.exceptions import InvalidTransition
import json
from models_app.models import RegisteredModel
step = int("STEP")
admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
models = list(RegisteredModel.objects.filter(origin="").order_by("pk"))
model = models[step % len(models)]
services.registered_model_update(
    actor=admin, model=model, description=f"changed while syncing ({step})"
)
services.model_version_register(
    actor=admin, model=model, version=f"9.{step}.0", metrics={"accuracy": 0.5 + step / 100}
)
rolled_back = None
for candidate in models if step % 2 == 0 else []:
    try:
        services.registered_model_rollback(actor=admin, model=candidate, reason=f"step {step}")
    except InvalidTransition:
        continue
    rolled_back = candidate.name
    break
print(json.dumps({"rolled_back": rolled_back}))
"""


def _shell(db_file, code: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env or _env(db_file),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def team(central, central_template, tmp_path):
    """A team registry of its own: a migrated database seeded with the demo catalog."""
    db_file = tmp_path / "team.sqlite3"
    shutil.copy(central_template.db_file, db_file)
    env = _env(db_file) | {
        "REGISTRY_ID": REGISTRY_ID,
        "REGISTRY_CENTRAL_URL": central.url,
        "REGISTRY_CENTRAL_TOKEN": central.tokens.sync_token,
    }
    _manage(db_file, "seed_demo")
    return db_file, env


def _sync(env: dict, log, *, kill_after_batches: int | None, delay: float) -> int | None:
    """Run one sync; with `kill_after_batches`, SIGKILL it `delay` seconds after it reports
    that many acknowledged batches (0: after it started). Returns its exit code."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_catalog", "--batch-size", "3"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after_batches is None:
        process.stderr.read()
        return process.wait(timeout=300)
    acknowledged = 0
    while acknowledged < kill_after_batches:
        line = process.stderr.readline()
        if not line:  # the sync ended before that batch
            break
        if " acknowledged" in line:
            acknowledged += 1
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    return process.returncode


def test_a_sync_killed_at_random_points_converges_on_the_next_run(team, central, tmp_path):
    db_file, env = team
    seed = int(os.environ.get("SYNC_KILL_SEED", random.randrange(10**6)))
    print(f"SYNC_KILL_SEED={seed}")
    rng = random.Random(seed)
    log = (tmp_path / "sync.out").open("w")
    killed = rollbacks = 0
    for step in range(6):
        # The first sync pushes the whole demo catalog (some 20 batches), later ones
        # only what changed since (a few).
        most = 20 if step == 0 else 3
        code = _sync(
            env, log, kill_after_batches=rng.randrange(0, most), delay=rng.uniform(0, 0.25)
        )
        killed += code == -signal.SIGKILL
        rollbacks += bool(
            _shell(db_file, TEAM_CHANGE.replace("STEP", str(step)), env)["rolled_back"]
        )
    assert killed >= 3, f"most runs should have been killed mid-way (seed {seed})"
    assert rollbacks >= 2, "the team registry rolled back while syncs were killed"

    assert _sync(env, log, kill_after_batches=None, delay=0) == 0
    log.close()
    out = (tmp_path / "sync.out").read_text()
    assert "Pushed" in out, out[-2000:]

    team_catalog = _shell(db_file, TEAM_DUMP, env)
    central_catalog = _shell(central.db_file, CENTRAL_DUMP % REGISTRY_ID)
    assert set(central_catalog["models"]) == set(team_catalog["models"]), seed
    for name, model in team_catalog["models"].items():
        assert central_catalog["models"][name] == model, (seed, name)
    assert central_catalog["events"] == team_catalog["events"], seed

    # A further run finds nothing to push.
    again = subprocess.run(
        [sys.executable, "manage.py", "sync_catalog"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Nothing to push: the central catalog is up to date."
