"""Subscriptions through the gateway, end to end: graphql-transport-ws (and HTTP multipart) against a
gateway serving real HTTP on a loopback port, with real intake, referrals and notifications behind it,
real NATS and PostgreSQL. Every refusal is checked together with the audit record it left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from passage.db import asyncpg_dsn
from passage.settings import Settings
from tests.conftest import TokenFactory, bearer
from tests.gateway.stack import forged_token, service_and_agreement
from tests.support import eventually, serving

SENDER, RECEIVER, OUTSIDER, NOTICED = "su-harbour", "su-bridge", "su-faraway", "su-noticeboard"
PROTOCOL = "graphql-transport-ws"
REFERRAL_UPDATES = (
    "subscription { referralUpdates { referralId clientId status eventType sendingAgencyId "
    "receivingAgencyId occurredAt eventId } }"
)
NOTIFICATIONS = (
    "subscription($after: String) { notifications(lastEventId: $after) "
    "{ id kind resource title language createdAt readAt } }"
)
NOTIFICATION_FIELDS = {"id", "kind", "resource", "title", "language", "createdAt", "readAt"}
MULTIPART = 'multipart/mixed;subscriptionSpec="1.0",application/json'
WAIT = 15.0  # the longest any single wait in this file may take


@dataclass
class Net:
    gateway: str  # http://127.0.0.1:<port>
    intake: str
    token: TokenFactory
    db_url: str
    service_id: str

    @property
    def ws(self) -> str:
        return self.gateway.replace("http://", "ws://") + "/graphql"


@pytest.fixture(scope="module")
async def net(settings: Settings, token: TokenFactory) -> AsyncIterator[Net]:
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for name in ("intake", "referrals", "notifications"):
            known = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
            urls[name] = await stack.enter_async_context(serving(name, known))
        gw_settings = settings.model_copy(update={f"{n}_url": u for n, u in urls.items()})
        gateway = await stack.enter_async_context(serving("gateway", gw_settings))
        service = await service_and_agreement(urls["referrals"], token, SENDER, RECEIVER)
        yield Net(gateway, urls["intake"], token, settings.database_url, service)


# -- helpers ---------------------------------------------------------------------------------------


def init(tok: str | None, purpose: str | None, **extra: str) -> dict[str, str]:
    payload = dict(extra)
    if tok is not None:
        payload["Authorization"] = f"Bearer {tok}"
    if purpose is not None:
        payload["X-Purpose-Of-Use"] = purpose
    return payload


@contextlib.asynccontextmanager
async def socket(net: Net, headers: dict[str, str] | None = None) -> AsyncIterator[ClientConnection]:
    async with connect(
        net.ws,
        subprotocols=[PROTOCOL],
        additional_headers=headers or {},
        open_timeout=WAIT,  # type: ignore[list-item]
    ) as ws:
        yield ws


async def receive(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    if message.get("type") == "ping":
        await ws.send(json.dumps({"type": "pong"}))
        return await receive(ws, timeout)
    return message


async def connected(ws: ClientConnection, payload: dict[str, str]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    ack = await receive(ws)
    assert ack["type"] == "connection_ack", ack
    return ack


async def subscribe(ws: ClientConnection, query: str, variables: dict[str, Any] | None = None) -> str:
    op = uuid.uuid4().hex[:8]
    message = {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
    await ws.send(json.dumps(message))
    return op


async def closed(ws: ClientConnection, timeout: float = WAIT) -> tuple[int, str]:
    """The close code and reason the server sent (the socket must close within `timeout`)."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            frame = exc.rcvd
    assert frame is not None, "the server did not send a close frame"
    return frame.code, frame.reason


async def audit_rows(
    net: Net, *, request_id: str | None = None, actor: str | None = None
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(net.db_url))
    try:
        rows = await conn.fetch(
            "SELECT actor, agency_id, purpose, action, outcome, resource, request_id, detail "
            "FROM gateway.audit_log WHERE ($1::text IS NULL OR request_id = $1) "
            "AND ($2::text IS NULL OR actor = $2) ORDER BY seq",
            request_id,
            actor,
        )
    finally:
        await conn.close()
    out = []
    for r in rows:
        row = dict(r)
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
        out.append(row)
    return out


async def subscribed(net: Net, actor: str, resource: str) -> dict[str, Any]:
    """The subscription's start record: once it exists, the subscription is live."""

    async def probe() -> dict[str, Any] | None:
        rows = await audit_rows(net, actor=actor)
        found = [r for r in rows if r["action"] == "subscribe" and r["resource"] == resource]
        return found[0] if found else None

    return await eventually(probe, timeout=WAIT)


async def gql(net: Net, query: str, variables: dict[str, Any], tok: str, purpose: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=net.gateway, timeout=WAIT) as http:
        r = await http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers=bearer(tok) | {"X-Purpose-Of-Use": purpose},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    return dict(body["data"])


async def register_client(net: Net, agency: str, family_name: str) -> str:
    async with httpx.AsyncClient(base_url=net.intake, timeout=WAIT) as intake:
        r = await intake.post(
            "/v1/clients",
            json={"given_name": "Fatou", "family_name": family_name, "sex": "female", "birth_year": 1990},
            headers=bearer(net.token(agency, roles=("case_worker",))),
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def worker(net: Net, agency: str, role: str = "case_worker", **kwargs: Any) -> tuple[str, str]:
    sub = f"{agency}-{role}-{uuid.uuid4().hex[:6]}"
    return sub, net.token(agency, roles=(role,), sub=sub, **kwargs)


# -- referral updates ------------------------------------------------------------------------------


async def test_referral_updates_reach_both_agencies_of_the_referral_and_nobody_else(net: Net) -> None:
    sender_sub, sender_tok = worker(net, SENDER)
    receiver_sub, receiver_tok = worker(net, RECEIVER)
    outsider_sub, outsider_tok = worker(net, OUTSIDER)
    async with (
        socket(net) as sender_ws,
        # A server-side client may authenticate with the upgrade request's headers instead.
        socket(net, bearer(receiver_tok) | {"X-Purpose-Of-Use": "referral"}) as receiver_ws,
        socket(net) as outsider_ws,
    ):
        ack = await connected(sender_ws, init(sender_tok, "case_management"))
        assert ack["payload"]["expiresAt"] > time.time()
        await connected(receiver_ws, {})
        await connected(outsider_ws, init(outsider_tok, "case_management"))
        sender_op = await subscribe(sender_ws, REFERRAL_UPDATES)
        receiver_op = await subscribe(receiver_ws, REFERRAL_UPDATES)
        outsider_op = await subscribe(outsider_ws, REFERRAL_UPDATES)
        started = await subscribed(net, sender_sub, "referralUpdates")
        assert (started["agency_id"], started["purpose"], started["outcome"]) == (
            SENDER,
            "case_management",
            "released",
        )
        assert started["detail"]["transport"] == "graphql-transport-ws"
        assert (await subscribed(net, receiver_sub, "referralUpdates"))["purpose"] == "referral"
        await subscribed(net, outsider_sub, "referralUpdates")

        # A referral is made and accepted through the gateway's mutations.
        client_id = await register_client(net, SENDER, f"S{uuid.uuid4().hex[:12]}")
        consent = await gql(
            net,
            "mutation($c: ID!, $in: ConsentInput!) { grantConsent(clientId: $c, input: $in) { id } }",
            {
                "c": client_id,
                "in": {
                    "granteeAgencyId": RECEIVER,
                    "purposes": ["referral"],
                    "categories": ["identity", "needs"],
                    "obtainedBy": "written",
                },
            },
            sender_tok,
            "case_management",
        )
        created = await gql(
            net,
            "mutation($in: CreateReferralInput!) { createReferral(input: $in) { id status } }",
            {
                "in": {
                    "clientId": client_id,
                    "serviceId": net.service_id,
                    "receivingAgencyId": RECEIVER,
                    "reasons": "counselling",
                    "consentId": consent["grantConsent"]["id"],
                }
            },
            sender_tok,
            "referral",
        )
        referral_id = created["createReferral"]["id"]
        accepted = await gql(
            net,
            "mutation($id: ID!) { transitionReferral(id: $id, action: accept) { status } }",
            {"id": referral_id},
            receiver_tok,
            "referral",
        )
        assert accepted["transitionReferral"]["status"] == "accepted"

        for ws, op in ((sender_ws, sender_op), (receiver_ws, receiver_op)):
            updates: list[dict[str, Any]] = []
            while len(updates) < 2:
                message = await receive(ws)
                assert (message["type"], message["id"]) == ("next", op), message
                update = message["payload"]["data"]["referralUpdates"]
                if update["referralId"] == referral_id:
                    updates.append(update)
            assert [(u["status"], u["eventType"]) for u in updates] == [
                ("requested", "referrals.referral.requested"),
                ("accepted", "referrals.referral.accepted"),
            ]
            assert all(u["clientId"] == client_id for u in updates)
            assert {(u["sendingAgencyId"], u["receivingAgencyId"]) for u in updates} == {(SENDER, RECEIVER)}
            assert updates[0]["eventId"] != updates[1]["eventId"]

        # Both involved subscribers have their updates; the uninvolved agency heard nothing.
        heard = None
        with contextlib.suppress(TimeoutError):
            heard = await asyncio.wait_for(outsider_ws.recv(), 1.0)
        assert heard is None, f"an uninvolved agency received {heard!r}"
        await outsider_ws.send(json.dumps({"id": outsider_op, "type": "complete"}))


async def test_coordinators_with_the_statistics_purpose_get_no_referral_updates(net: Net) -> None:
    sub, tok = worker(net, "network", role="coordinator")
    async with socket(net) as ws:
        await connected(ws, init(tok, "statistics"))
        op = await subscribe(ws, REFERRAL_UPDATES)
        message = await receive(ws)
        if message["type"] == "next":  # a refusal may come as the operation's result with errors
            errors = message["payload"]["errors"]
        else:
            assert message["type"] == "error", message
            errors = message["payload"]
        assert message["id"] == op
        assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], errors
        assert "statistics" in errors[0]["message"]
    [row] = [r for r in await audit_rows(net, actor=sub) if r["action"] == "subscribe"]
    assert (row["outcome"], row["resource"], row["purpose"]) == ("refused", "referralUpdates", "statistics")
    assert row["detail"]["code"] == "FORBIDDEN"


# -- notifications ---------------------------------------------------------------------------------


async def latest_notice_for_client(net: Net, tok: str, client_id: str) -> str:
    """The id of the in-app notice the client's registration gave the agency (through the gateway)."""

    async def probe() -> str | None:
        query = "query { notifications(first: 20) { edges { node { id resource } } } }"
        data = await gql(net, query, {}, tok, "case_management")
        nodes = [e["node"] for e in data["notifications"]["edges"]]
        return next((n["id"] for n in nodes if n["resource"] == f"client/{client_id}"), None)

    return await eventually(probe, timeout=WAIT, interval=0.2)


async def test_notifications_arrive_over_websocket_without_personal_data(net: Net) -> None:
    sub, tok = worker(net, NOTICED)
    # A first notice marks where the feed resumes (so the test never races the feed's start).
    earlier = await register_client(net, NOTICED, f"A{uuid.uuid4().hex[:10]}")
    first = await latest_notice_for_client(net, tok, earlier)
    async with socket(net) as ws:
        await connected(ws, init(tok, "case_management"))
        op = await subscribe(ws, NOTIFICATIONS, {"after": first})
        await subscribed(net, sub, "notifications")
        family_name = f"Zq{uuid.uuid4().hex[:10]}"
        client_id = await register_client(net, NOTICED, family_name)
        raw = await asyncio.wait_for(ws.recv(), WAIT)
        message = json.loads(raw)
        assert (message["type"], message["id"]) == ("next", op), message
        notice = message["payload"]["data"]["notifications"]
        assert set(notice) == NOTIFICATION_FIELDS
        assert notice["resource"] == f"client/{client_id}"
        assert notice["kind"] == "intake.client.registered"
        assert notice["readAt"] is None
        # Ids and a title from an allow-listed template: no name of the client anywhere.
        assert family_name not in str(raw)
        assert "Fatou" not in str(raw)


async def test_notifications_also_stream_over_http_multipart(net: Net) -> None:
    sub, tok = worker(net, NOTICED)
    earlier = await register_client(net, NOTICED, f"B{uuid.uuid4().hex[:10]}")
    first = await latest_notice_for_client(net, tok, earlier)
    async with httpx.AsyncClient(base_url=net.gateway, timeout=WAIT) as http:  # noqa: SIM117
        async with http.stream(
            "POST",
            "/graphql",
            json={"query": NOTIFICATIONS, "variables": {"after": first}},
            headers=bearer(tok) | {"X-Purpose-Of-Use": "follow_up", "Accept": MULTIPART},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/mixed")
            started = await subscribed(net, sub, "notifications")
            assert started["detail"]["transport"] == "http-multipart"
            client_id = await register_client(net, NOTICED, f"C{uuid.uuid4().hex[:10]}")
            buffer = ""
            async with asyncio.timeout(WAIT):
                async for chunk in response.aiter_text():
                    buffer += chunk
                    payloads = [
                        json.loads(part.split("\r\n\r\n", 1)[1])
                        for part in buffer.split("\r\n--graphql")
                        if "\r\n\r\n" in part and part.rstrip().endswith("}")
                    ]
                    items = [
                        p["payload"]["data"]["notifications"]
                        for p in payloads
                        if (p.get("payload") or {}).get("data")
                    ]
                    if items:
                        break
    assert items[0]["resource"] == f"client/{client_id}"
    assert set(items[0]) == NOTIFICATION_FIELDS


# -- refusals at the door --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "code"),
    [("no-token", "UNAUTHENTICATED"), ("forged-token", "UNAUTHENTICATED"), ("no-purpose", "BAD_USER_INPUT")],
)
async def test_a_refused_connection_init_closes_the_socket_and_is_audited(
    net: Net, case: str, code: str
) -> None:
    request_id = f"su-{case}-{uuid.uuid4().hex[:8]}"
    sub, tok = worker(net, SENDER)
    payload = {
        "no-token": init(None, "case_management", **{"X-Request-ID": request_id}),
        "forged-token": init(forged_token(SENDER), "case_management", **{"X-Request-ID": request_id}),
        "no-purpose": init(tok, None, **{"X-Request-ID": request_id}),
    }[case]
    async with socket(net) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        close_code, reason = await closed(ws)
    assert close_code == 4403
    assert reason.startswith(f"Forbidden: {code}")
    [row] = await audit_rows(net, request_id=request_id)
    assert (row["action"], row["outcome"]) == ("connect", "refused")
    assert row["detail"]["code"] == code
    assert row["detail"]["transport"] == "graphql-transport-ws"
    assert row["actor"] == (sub if case == "no-purpose" else "anonymous")


async def test_queries_over_websocket_are_refused_with_a_clear_error(net: Net) -> None:
    sub, tok = worker(net, SENDER)
    async with socket(net) as ws:
        await connected(ws, init(tok, "case_management"))
        op = await subscribe(ws, "query { notifications(first: 1) { edges { node { id } } } }")
        message = await receive(ws)
        assert (message["type"], message["id"]) == ("error", op), message
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "subscriptions only" in message["payload"][0]["message"]
    refused = [r for r in await audit_rows(net, actor=sub) if r["outcome"] == "refused"]
    assert [r["detail"]["code"] for r in refused] == ["BAD_USER_INPUT"]


# -- token lifetime --------------------------------------------------------------------------------


async def test_a_subscription_ends_when_its_token_expires(net: Net) -> None:
    sub, tok = worker(net, "su-expiring", ttl_seconds=3)
    async with socket(net) as ws:
        began = time.monotonic()
        await connected(ws, init(tok, "case_management"))
        op = await subscribe(ws, REFERRAL_UPDATES)
        await subscribed(net, sub, "referralUpdates")
        # Other tests' referrals never concern this agency: the first message is the end.
        message = await receive(ws, timeout=8)
        assert (message["type"], message["id"]) == ("next", op), message
        assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["UNAUTHENTICATED"]
        assert "expired" in message["payload"]["errors"][0]["message"]
        assert (await receive(ws, timeout=3)) == {"id": op, "type": "complete"}
        assert 1.5 < time.monotonic() - began < 6
        close_code, reason = await closed(ws, timeout=5)
    assert (close_code, reason) == (4403, "Token expired")
    ended = [r for r in await audit_rows(net, actor=sub) if r["outcome"] == "ended"]
    assert [(r["action"], r["resource"], r["detail"]["code"]) for r in ended] == [
        ("subscribe", "referralUpdates", "UNAUTHENTICATED")
    ]


async def test_a_subscription_sent_as_a_plain_request_is_refused_with_a_clear_error(net: Net) -> None:
    sub, tok = worker(net, SENDER)
    async with httpx.AsyncClient(base_url=net.gateway, timeout=WAIT) as http:
        r = await http.post(
            "/graphql",
            json={"query": REFERRAL_UPDATES},
            headers=bearer(tok) | {"X-Purpose-Of-Use": "case_management"},
        )
    assert r.status_code == 200, r.text
    [error] = r.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "streaming transport" in error["message"]
    [row] = await audit_rows(net, actor=sub)
    assert (row["outcome"], row["detail"]["code"]) == ("refused", "BAD_USER_INPUT")
