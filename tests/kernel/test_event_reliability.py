"""At-least-once delivery, applied exactly once: the outbox, the relay and the inbox under faults."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from passage.bus import CloudEvent, Outbox
from passage.bus.nats import ensure_stream
from passage.bus.relay import OutboxRelay
from passage.contracts.intake import ClientRegistered
from passage.db import Database
from passage.settings import Settings
from tests.support import component_env, eventually, running, start_component_process

intake_outbox = Outbox(schema="intake", source="/passage/intake")


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings, application_name="passage-tests")
    yield database
    await database.dispose()


@pytest.fixture
async def js(settings: Settings, nc: NATS) -> JetStreamContext:
    """JetStream, with the INTAKE stream in place."""
    context = nc.jetstream()
    await ensure_stream(context, "intake", settings)
    return context


def registered(agency: str) -> ClientRegistered:
    return ClientRegistered(client_id=uuid.uuid4(), agency_id=agency, registered_by="tester")


async def copies_in_stream(nc: NATS, event_id: uuid.UUID) -> int:
    """How many messages in the INTAKE stream carry this CloudEvent id."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "intake.>",
        stream="INTAKE",
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5),
    )
    info = await sub.consumer_info()
    count, remaining = 0, info.num_pending
    while remaining > 0:
        batch = await sub.fetch(batch=min(remaining, 500), timeout=5)
        remaining -= len(batch)
        count += sum(1 for m in batch if (m.headers or {}).get("ce-id") == str(event_id))
    await sub.unsubscribe()
    return count


async def commit_event(database: Database, data: ClientRegistered) -> CloudEvent:
    async with database.sessionmaker() as session, session.begin():
        return await intake_outbox.add(session, data, subject=f"client/{data.client_id}")


async def test_a_rolled_back_change_publishes_nothing(
    settings: Settings, database: Database, nc: NATS, js: JetStreamContext, db: asyncpg.Connection
) -> None:
    async with database.sessionmaker() as session:
        event = await intake_outbox.add(session, registered("agency-rollback"))
        await session.rollback()

    relay = OutboxRelay(component="intake", schema="intake", db=database, js=js, settings=settings)
    while await relay.relay_once():
        pass
    assert await db.fetchval("SELECT count(*) FROM intake.outbox WHERE event_id = $1", event.id) == 0
    assert await copies_in_stream(nc, event.id) == 0


async def test_a_committed_event_is_published_once_as_a_cloudevent(
    settings: Settings, database: Database, js: JetStreamContext, db: asyncpg.Connection
) -> None:
    event = await commit_event(database, registered("agency-commit"))
    relay = OutboxRelay(component="intake", schema="intake", db=database, js=js, settings=settings)
    while await relay.relay_once():
        pass
    assert (
        await db.fetchval("SELECT published_at FROM intake.outbox WHERE event_id = $1", event.id) is not None
    )

    sub = await js.pull_subscribe(
        "intake.client.registered",
        stream="INTAKE",
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5),
    )
    found = None
    for _ in range(200):
        batch = await sub.fetch(batch=100, timeout=5)
        found = next((m for m in batch if (m.headers or {}).get("ce-id") == str(event.id)), None)
        if found:
            break
    await sub.unsubscribe()
    assert found is not None
    headers = found.headers or {}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "intake.client.registered"
    assert headers["ce-source"] == "/passage/intake"
    assert headers["ce-subject"].startswith("client/")
    assert headers["ce-dataschema"] == "urn:passage:event:intake.client.registered:v1"
    assert headers["Nats-Msg-Id"] == str(event.id)
    assert found.subject == "intake.client.registered"
    assert ClientRegistered.model_validate_json(found.data).agency_id == "agency-commit"


async def test_a_relay_killed_after_publishing_publishes_again_and_the_consumer_applies_once(
    settings: Settings, database: Database, nc: NATS, db: asyncpg.Connection, tmp_path: Path
) -> None:
    data = registered("agency-relay-crash")
    event = await commit_event(database, data)

    # An intake process whose relay dies (as with SIGKILL) right after publishing, before marking.
    crashing = start_component_process(
        "intake", component_env(settings, PASSAGE_FAULTS="relay.after_publish"), str(tmp_path / "intake.log")
    )
    assert crashing.wait(timeout=60) == 137, (tmp_path / "intake.log").read_text()
    assert await db.fetchval("SELECT published_at FROM intake.outbox WHERE event_id = $1", event.id) is None
    assert await copies_in_stream(nc, event.id) == 1

    async with running("intake", settings), running("scoring", settings):

        async def republished() -> bool:
            sql = "SELECT published_at IS NOT NULL FROM intake.outbox WHERE event_id = $1"
            return bool(await db.fetchval(sql, event.id))

        await eventually(republished)

        async def scheduled() -> int:
            sql = "SELECT count(*) FROM scoring.scheduled_assessments WHERE client_id = $1"
            return int(await db.fetchval(sql, data.client_id))

        assert await eventually(scheduled) == 1
        # JetStream dropped the second publish by its Nats-Msg-Id; the consumer applied it once.
        assert await copies_in_stream(nc, event.id) == 1
        inbox_sql = "SELECT count(*) FROM scoring.inbox WHERE event_id = $1 AND status = 'processed'"
        assert await db.fetchval(inbox_sql, event.id) == 1
        assert await scheduled() == 1


def duplicates_counted(metrics_text: str, component: str) -> float:
    pattern = (
        rf'passage_events_consumed_total\{{component="{component}",consumer="{component}",'
        rf'outcome="duplicate"\}} ([0-9.e+]+)'
    )
    match = re.search(pattern, metrics_text)
    return float(match.group(1)) if match else 0.0


async def test_a_duplicate_delivery_is_applied_once(
    settings: Settings, js: JetStreamContext, db: asyncpg.Connection
) -> None:
    data = registered("agency-duplicate")
    event = CloudEvent.wrap(data, source="/passage/intake", subject=f"client/{data.client_id}")
    async with running("notifications", settings) as (_, notifications):
        before = duplicates_counted((await notifications.get("/metrics")).text, "notifications")
        # The same event twice, as after a publish retried beyond JetStream's duplicate window.
        for attempt in range(2):
            headers = event.headers() | {"Nats-Msg-Id": f"{event.id}-{attempt}"}
            await js.publish(event.type, event.data, headers=headers)

        async def second_copy_seen() -> bool:
            text = (await notifications.get("/metrics")).text
            return duplicates_counted(text, "notifications") >= before + 1

        await eventually(second_copy_seen)
    sql = "SELECT count(*) FROM notifications.in_app_notifications WHERE source_event_id = $1"
    assert await db.fetchval(sql, event.id) == 1
    assert await db.fetchval("SELECT count(*) FROM notifications.inbox WHERE event_id = $1", event.id) == 1


async def test_a_consumer_killed_after_commit_before_ack_gets_the_event_again_and_applies_it_once(
    settings: Settings,
    js: JetStreamContext,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    log = tmp_path / "notifications.log"
    crashing = start_component_process(
        "notifications",
        component_env(
            settings, PASSAGE_FAULTS="consumer.after_commit", PASSAGE_CONSUMER_ACK_WAIT_SECONDS="1"
        ),
        str(log),
    )
    try:
        data = registered("agency-consumer-crash")
        event = CloudEvent.wrap(data, source="/passage/intake", subject=f"client/{data.client_id}")

        async def consumer_bound() -> bool:
            try:
                info = await js.consumer_info("INTAKE", "notifications")
            except Exception:
                return False
            return info.config.ack_wait == 1 and crashing.poll() is None

        await eventually(consumer_bound, timeout=60)
        await js.publish(event.type, event.data, headers=event.headers())
        assert crashing.wait(timeout=60) == 137, log.read_text()
    finally:
        if crashing.poll() is None:
            crashing.kill()
            crashing.wait()

    sql = "SELECT count(*) FROM notifications.in_app_notifications WHERE source_event_id = $1"
    assert await db.fetchval(sql, event.id) == 1  # the effect committed; the ack never went out

    async with running("notifications", settings) as (_, notifications):
        before = duplicates_counted((await notifications.get("/metrics")).text, "notifications")

        async def redelivered() -> bool:
            text = (await notifications.get("/metrics")).text
            return duplicates_counted(text, "notifications") >= before + 1

        await eventually(redelivered, timeout=30)

        async def nothing_left_unacked() -> bool:
            info = await js.consumer_info("INTAKE", "notifications")
            return info.num_ack_pending == 0

        await eventually(nothing_left_unacked, timeout=30)
    assert await db.fetchval(sql, event.id) == 1


async def test_an_event_that_can_never_be_handled_is_parked_not_dropped(
    settings: Settings, js: JetStreamContext, db: asyncpg.Connection
) -> None:
    good = registered("agency-poison")
    event = CloudEvent.wrap(good, source="/passage/intake")
    async with running("scoring", settings):
        await js.publish(event.type, b'{"client_id": "not-a-uuid"}', headers=event.headers())

        async def parked() -> asyncpg.Record | None:
            sql = "SELECT status, error, payload FROM scoring.inbox WHERE event_id = $1"
            return await db.fetchrow(sql, event.id)

        row = await eventually(parked)
    assert row["status"] == "parked"
    assert "client_id" in row["error"]
    assert bytes(row["payload"]) == b'{"client_id": "not-a-uuid"}'
