"""On a central catalog, the production panel of a mirrored model says where and by whom
the version was promoted, as the mirrored promotion event records it."""

from __future__ import annotations

from federation_app import services as federation
from federation_app.models import SyncState
from federation_app.sync import pending_items
from models_app.models import RegisteredModel
from tests.dashboard.conftest import https_client


def test_a_mirrored_promotion_names_its_registry_and_who_promoted_it_there(people, model, promote):
    promote(model, "1.0.0")
    items = pending_items(SyncState.objects.create(central_url="here", registry_id="team-x"))
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    mirrored = RegisteredModel.objects.get(name="team-x.fraud_detector")
    client = https_client()
    client.force_login(people.viewer)
    html = client.get(f"/models/{mirrored.name}/").content.decode()
    panel = html.split('class="panel production-panel"')[1].split("</section>")[0]
    assert "Promoted by <strong>" in panel
    assert "Mirrored from registry team-x, where release made the change." in panel
