"""How many SQL statements one governed registration costs, at the service and at the door."""

from __future__ import annotations

from rest_framework.test import APIClient

from approvals_app.models import ModelCard
from models_app import services
from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_user
from tests.queries import captured_queries

REGISTRATION = {
    "metrics": {"accuracy": 0.91, "f1": 0.88},
    "params": {"lr": "0.01", "epochs": "10"},
    "tags": {"team": "fraud"},
}


def _assert_registered(model, label: str) -> None:
    mv = ModelVersion.objects.get(registered_model=model, version=label)
    assert mv.metrics == REGISTRATION["metrics"] and mv.params == REGISTRATION["params"]
    assert [row.history_type for row in mv.history.all()] == ["+"]
    assert AuditEvent.objects.filter(model_version=mv, action="version.registered").count() == 1
    card = ModelCard.objects.get(model_version=mv)
    assert card.current_revision is not None and card.current_revision.number == 1
    assert [row.history_type for row in card.history.all()] == ["+"]


def test_one_registration_costs_fifteen_statements(people, model, django_assert_num_queries):
    author = make_user("author")  # a fresh user object, as each request loads one
    # 15 statements:
    #  3  the author's rights, read once per user object: their own permissions, their
    #     groups' permissions, their team memberships (models_app.permissions);
    #  1  SAVEPOINT: the registration's transaction (BEGIN outside a test's transaction,
    #     which is not counted as a statement);
    #  1  SELECT … FOR UPDATE of the model with its team: the lock that orders numbers;
    #  1  UPDATE of the model's last_number and updated_at (no history row for it);
    #  2  INSERT of the version and of its history row ("+");
    #  1  INSERT of the audit event;
    #  1  SELECT of the active webhook subscriptions, to queue the event's deliveries;
    #  4  the empty model card: INSERT card, INSERT its first revision, UPDATE the card to
    #     point at it, INSERT the card's history row ("+", written by that UPDATE);
    #  1  RELEASE SAVEPOINT (COMMIT outside a test's transaction).
    # Nothing here re-reads what is already known: the model is read once, under its lock.
    with django_assert_num_queries(15):
        services.model_version_register(actor=author, model=model, version="1.0.0", **REGISTRATION)
    _assert_registered(model, "1.0.0")


def test_the_rest_registration_costs_the_service_plus_the_request(people, model):
    client = APIClient()
    client.force_authenticate(user=make_user("author"))
    url = f"/api/v1/models/{model.name}/versions/"
    with captured_queries() as ctx:
        response = client.post(url, {"version": "1.0.0", **REGISTRATION}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["model"], body["version"], body["stage"]) == (model.name, "1.0.0", "staging")
    assert body["created_by"] == "author" and body["metrics"] == REGISTRATION["metrics"]
    # 16 = the model by name (the door's 404 check) + the service's 15; the answer is made
    # from the version the service returns, with no re-read.
    assert len(ctx) == 16, [q["sql"][:80] for q in ctx]
    _assert_registered(model, "1.0.0")
    assert client.get(f"{url}1.0.0/").json() == body  # the same answer as a later read
