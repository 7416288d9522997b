from models_app import selectors, services
from models_app.enums import Stage


def test_promotion_then_rollback_restores_previous(people, model, promote):
    first = promote(model, "1.0.0")
    second = promote(model, "1.1.0")
    first.refresh_from_db()
    assert (first.stage, second.stage) == (Stage.ARCHIVED, Stage.PRODUCTION)
    restored = services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    assert restored.pk == first.pk
    assert selectors.production_version(model=model).version == "1.0.0"
