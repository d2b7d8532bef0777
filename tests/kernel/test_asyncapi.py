"""The event catalogue is generated from the contract models, so it cannot drift from them."""

from __future__ import annotations

import json
import subprocess
import sys

from passage.bus.asyncapi import asyncapi_document
from passage.bus.envelope import EventData


def test_every_contract_has_a_channel_with_its_payload_schema() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(EventData.catalogue)
    message = document["components"]["messages"]["intake_client_registered"]
    assert set(message["payload"]["required"]) == {"client_id", "agency_id", "registered_by"}
    assert message["x-passage-dataschema"] == "urn:passage:event:intake.client.registered:v1"
    assert "ce-id" in message["headers"]["required"]


def test_no_event_payload_carries_a_name_or_a_birth_date() -> None:
    personal = {"given_name", "family_name", "name", "birth_year", "birth_date", "phone", "email", "address"}
    for event_type, model in EventData.catalogue.items():
        assert personal.isdisjoint(model.model_fields), f"{event_type} carries personal data"


def test_the_cli_prints_the_document() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "passage", "asyncapi"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out)["channels"]["intake_client_registered"]["address"] == "intake.client.registered"
