"""The walking skeleton with all three event hops, the components running in-process."""

from __future__ import annotations

from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.support import eventually, running

CLIENT = {"given_name": "Amina", "family_name": "Diallo", "birth_year": 1994, "sex": "female"}


async def test_registration_reaches_scoring_and_notifications(
    settings: Settings, token: TokenFactory
) -> None:
    tok = token("agency-skeleton")
    async with (
        running("intake", settings) as (_, intake),
        running("scoring", settings) as (_, scoring),
        running("notifications", settings) as (_, notifications),
    ):
        created = await intake.post("/v1/clients", json=CLIENT, headers=bearer(tok))
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]
        assert created.headers["location"] == f"/v1/clients/{client_id}"

        read = await intake.get(f"/v1/clients/{client_id}", headers=bearer(tok))
        assert read.status_code == 200
        assert read.json()["given_name"] == "Amina"

        async def baseline_due() -> list[dict[str, str]] | None:
            response = await scoring.get(f"/v1/clients/{client_id}/schedule", headers=bearer(tok))
            # 404 until scoring has heard of the client: it scopes reads by the agency the event named.
            return response.json()["items"] or None if response.status_code == 200 else None

        items = await eventually(baseline_due)
        assert [(i["instrument"], i["round"], i["status"]) for i in items] == [("rss", "baseline", "pending")]

        async def notified() -> list[dict[str, str]] | None:
            body = (await notifications.get("/v1/notifications", headers=bearer(tok))).json()
            return [n for n in body["items"] if n["resource"] == f"client/{client_id}"] or None

        notices = await eventually(notified)
        assert len(notices) == 1
        assert notices[0]["kind"] == "intake.client.registered"


async def test_another_agency_cannot_read_the_client(settings: Settings, token: TokenFactory) -> None:
    async with running("intake", settings) as (_, intake):
        created = await intake.post("/v1/clients", json=CLIENT, headers=bearer(token("agency-owner")))
        client_id = created.json()["id"]
        other = await intake.get(f"/v1/clients/{client_id}", headers=bearer(token("agency-other")))
        assert other.status_code == 404
        assert other.headers["content-type"] == "application/problem+json"
