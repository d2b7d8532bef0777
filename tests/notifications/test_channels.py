"""People's channels: email through a real SMTP server, SMS through a local provider, in-app with
read state and a live feed, reminders to the right roles, and templates that refuse personal data."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from nats.aio.client import Client as NATS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from passage.bus.envelope import CloudEvent, EventData
from passage.bus.nats import subject
from passage.cli.embedded import free_port_block
from passage.contracts.gateway import BreakGlassStarted
from passage.contracts.referrals import ReferralOverdue
from passage.contracts.scoring import FollowupDue
from passage.settings import Settings
from services.notifications.templates import TEMPLATE_DIR, TemplateCatalogue, TemplateRefused
from tests.conftest import bearer
from tests.notifications.receivers import Receiver, receiving
from tests.support import eventually, running

CLIENT_ID = uuid.uuid4()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port_block(1)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@contextlib.asynccontextmanager
async def fake_intake() -> AsyncIterator[str]:
    async def client(request: Request) -> JSONResponse:
        assert request.headers["authorization"].startswith("Bearer ")
        if request.path_params["cid"] != str(CLIENT_ID):
            return JSONResponse({"status": 404}, status_code=404)
        return JSONResponse(
            {
                "id": str(CLIENT_ID),
                "status": "open",
                "given_name": "Amina",
                "phone": "+221770000001",
                "preferred_language": "fr",
                "preferred_contact_channel": "sms",
            }
        )

    port = free_port_block(1)
    app = Starlette(routes=[Route("/v1/clients/{cid}", client)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def sms() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture(scope="module")
async def service(
    settings: Settings, mailbox: tuple[Mailbox, int], sms: Receiver
) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_intake() as intake_url:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PASSAGE_NOTIFICATIONS_SMTP_HOST", "127.0.0.1")
            mp.setenv("PASSAGE_NOTIFICATIONS_SMTP_PORT", str(mailbox[1]))
            mp.setenv("PASSAGE_NOTIFICATIONS_SMTP_STARTTLS", "false")
            mp.setenv("PASSAGE_NOTIFICATIONS_SMS_URL", sms.url("/sms"))
            mp.setenv("PASSAGE_NOTIFICATIONS_SMS_TOKEN", "provider-token")
            mp.setenv("PASSAGE_NOTIFICATIONS_POLL_SECONDS", "0.05")
            async with running("notifications", settings.model_copy(update={"intake_url": intake_url})) as (
                app,
                c,
            ):
                c.app = app  # type: ignore[attr-defined] - the live feed test serves it over a real socket
                yield c


async def publish(nc: NATS, settings: Settings, data: EventData, source: str) -> CloudEvent:
    event = CloudEvent.wrap(data, source=source)
    await nc.jetstream().publish(
        subject(event.type, settings.nats_namespace), event.data, headers=event.headers()
    )
    return event


async def test_a_supervisor_hears_of_an_overdue_referral_by_email_in_arabic_right_to_left(
    service: httpx.AsyncClient, mailbox: tuple[Mailbox, int], token: Any, nc: NATS, settings: Settings
) -> None:
    admin = bearer(token(agency="agency-c1", roles=("agency_admin",)))
    reg = await service.post(
        "/v1/recipients",
        json={
            "user_sub": "sup-1",
            "roles": ["supervisor"],
            "email": "sup1@agency.example",
            "language": "ar",
            "channels": ["email", "in_app"],
        },
        headers=admin,
    )
    assert reg.status_code == 201, reg.text
    now = datetime.now(UTC)
    referral = uuid.uuid4()
    await publish(
        nc,
        settings,
        ReferralOverdue(
            referral_id=referral,
            client_id=uuid.uuid4(),
            sending_agency_id="agency-x",
            receiving_agency_id="agency-c1",
            service_id=None,
            status="requested",
            actor="system",
            occurred_at=now,
            sla_hours=48,
            due_at=now,
        ),
        "/passage/referrals",
    )
    box = mailbox[0]
    await eventually(lambda: asyncio.sleep(0, [m for m in box.messages if m["To"] == "sup1@agency.example"]))
    [message] = [m for m in box.messages if m["To"] == "sup1@agency.example"]
    html = (
        next(p for p in message.walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    assert 'dir="rtl"' in html
    assert 'lang="ar"' in html
    assert str(referral).split("-")[0] in html
    supervisor = bearer(token(agency="agency-c1", roles=("supervisor",), sub="sup-1"))
    items = (await service.get("/v1/notifications", headers=supervisor)).json()["items"]
    assert [i["kind"] for i in items] == ["referrals.referral.overdue"]
    assert items[0]["read_at"] is None
    marked = await service.post("/v1/notifications/read", json={"ids": [items[0]["id"]]}, headers=supervisor)
    assert marked.json() == {"marked": 1}
    assert (await service.get("/v1/notifications", headers=supervisor)).json()["items"][0][
        "read_at"
    ] is not None


async def test_the_client_gets_an_sms_in_their_language_without_the_reason(
    service: httpx.AsyncClient, sms: Receiver, token: Any, nc: NATS, settings: Settings
) -> None:
    await publish(
        nc,
        settings,
        FollowupDue(
            item_id=uuid.uuid4(),
            client_id=CLIENT_ID,
            agency_id="agency-c2",
            kind="mid_term_monitoring",
            due_on=date(2031, 3, 12),
            case_worker="cw-7",
        ),
        "/passage/scoring",
    )
    await eventually(lambda: asyncio.sleep(0, sms.at("/sms")))
    [got] = sms.at("/sms")
    body = json.loads(got.body)
    assert got.headers["authorization"] == "Bearer provider-token"
    assert body["to"] == "+221770000001"
    assert body["body"].startswith("Vous avez un rendez-vous le 12 mars 2031 au Centre")
    assert "Amina" not in body["body"]
    assert "monitoring" not in body["body"]
    # The case worker, not registered as a recipient, still sees it in the app.
    worker = bearer(token(agency="agency-c2", roles=("case_worker",), sub="cw-7"))
    items = (await service.get("/v1/notifications", headers=worker)).json()["items"]
    assert [i["kind"] for i in items] == ["scoring.followup.due"]


async def test_only_the_data_protection_officer_hears_of_break_glass_live(
    service: httpx.AsyncClient, token: Any, nc: NATS, settings: Settings
) -> None:
    dpo = bearer(token(agency="agency-c3", roles=("data_protection_officer",), sub="dpo-1"))
    received: list[str] = []
    # Server-sent events need a real socket: the in-process transport buffers whole responses.
    port = free_port_block(1)
    config = uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as http,
            http.stream("GET", "/v1/notifications/stream", headers=dpo) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(line)
                    return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    now = datetime.now(UTC)
    await publish(
        nc,
        settings,
        BreakGlassStarted(
            grant_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            agency_id="agency-c3",
            actor="sup-9",
            started_at=now,
            expires_at=now + timedelta(hours=1),
        ),
        "/passage/gateway",
    )
    try:
        await asyncio.wait_for(listener, timeout=10)
    finally:
        server.should_exit = True
        server.force_exit = True
        await serving
    assert json.loads(received[0][6:])["kind"] == "gateway.breakglass.started"
    case_worker = bearer(token(agency="agency-c3", roles=("case_worker",)))
    assert (await service.get("/v1/notifications", headers=case_worker)).json()["items"] == []


def test_every_notice_has_english_french_and_arabic_templates() -> None:
    catalogue = TemplateCatalogue()
    assert {"en", "fr", "ar"} <= catalogue.languages
    assert catalogue.notice_types("fr") == catalogue.notice_types("en") == catalogue.notice_types("ar")
    rendered = catalogue.render(
        "referrals.referral.accepted", "email", "es", {"reference": "ab12", "link": "x"}
    )
    assert rendered.language == "en"  # Spanish falls back to English


def test_a_template_that_names_personal_data_is_refused_at_load(tmp_path: Path) -> None:
    for item in TEMPLATE_DIR.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    en = tmp_path / "en.toml"
    en.write_text(
        en.read_text(encoding="utf-8").replace(
            'sms = "You have an appointment on', 'sms = "{{ given_name }}, you have an appointment on'
        ),
        encoding="utf-8",
    )
    with pytest.raises(TemplateRefused, match="given_name"):
        TemplateCatalogue(tmp_path)
