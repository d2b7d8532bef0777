"""The gateway's policy cache: consents are answered only at the revision just read on the client's
record, agreements only while the event feed has been heard without a gap; events drop entries."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NATS

from gateway.policy.agreements import DataSharingAgreement
from gateway.policy.cache import PolicyCache
from passage.bus.nats import subject
from passage.consent import ConsentRecord
from passage.settings import Settings
from tests.support import eventually


def consent_for(client_id: uuid.UUID) -> ConsentRecord:
    return ConsentRecord.model_validate(
        {
            "id": str(uuid.uuid4()),
            "client_id": str(client_id),
            "agency_id": "pc-harbour",
            "grantee_agency_id": "pc-bridge",
            "purposes": ["referral"],
            "categories": ["identity"],
            "period_start": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        }
    )


def agreement() -> DataSharingAgreement:
    return DataSharingAgreement.model_validate(
        {"id": str(uuid.uuid4()), "version": 1, "parties": ["pc-harbour", "pc-bridge"], "status": "active"}
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cache(nc: NATS, settings: Settings) -> AsyncIterator[PolicyCache]:
    # Its own namespace: events other tests publish meanwhile do not reach it.
    isolated = settings.model_copy(update={"nats_namespace": f"pc{uuid.uuid4().hex[:8]}"})
    cache = PolicyCache(ttl_seconds=30)
    await cache.listen(nc, isolated)
    cache.namespace = isolated.nats_namespace  # type: ignore[attr-defined]
    yield cache
    await cache.close()


async def test_consents_are_answered_only_at_the_revision_they_were_read_at() -> None:
    cache = PolicyCache()
    client = uuid.uuid4()
    records = [consent_for(client)]
    cache.keep_consents(client, 3, records)
    assert cache.consents(client, 3) == records
    # The record just read says the consents changed since (a withdrawal, say): read them again.
    assert cache.consents(client, 4) is None
    # A record without a revision is never answered from the cache.
    assert cache.consents(client, None) is None
    assert cache.consents(uuid.uuid4(), 3) is None


async def test_an_older_read_does_not_replace_a_newer_one() -> None:
    cache = PolicyCache()
    client = uuid.uuid4()
    newer, older = [consent_for(client)], [consent_for(client)]
    cache.keep_consents(client, 5, newer)
    cache.keep_consents(client, 4, older)  # a slow request's read, finishing late
    assert cache.consents(client, 5) == newer
    assert cache.consents(client, 4) is None


async def test_consent_entries_are_bounded_and_age_out() -> None:
    clock = Clock()
    cache = PolicyCache(clock=clock, max_consent_entries=2, consent_ttl_seconds=60)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for client in (a, b):
        cache.keep_consents(client, 1, [])
    assert cache.consents(a, 1) == []  # a used last: b is the least recently used
    cache.keep_consents(c, 1, [])
    assert cache.consents(b, 1) is None
    assert cache.consents(a, 1) == []
    assert cache.consents(c, 1) == []
    clock.now += 61
    assert cache.consents(a, 1) is None


async def test_a_consent_event_drops_the_clients_entry(cache: PolicyCache, nc: NATS) -> None:
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    cache.keep_consents(kept, 1, [])
    cache.keep_consents(dropped, 1, [])
    payload = {"consent_id": str(uuid.uuid4()), "client_id": str(dropped), "agency_id": "pc-harbour"}
    await nc.publish(
        subject("intake.consent.withdrawn", cache.namespace),  # type: ignore[attr-defined]
        json.dumps(payload).encode(),
    )

    async def dropped_entry() -> bool:
        return cache.consents(dropped, 1) is None

    await eventually(dropped_entry)
    assert cache.consents(kept, 1) == []


async def test_an_agreement_event_drops_every_pair_of_its_parties(cache: PolicyCache, nc: NATS) -> None:
    token = cache.token
    cache.keep_agreements("pc-harbour", "pc-bridge", [agreement()], token)
    cache.keep_agreements("pc-far", "pc-away", [], token)
    assert cache.agreements("pc-bridge", "pc-harbour") is not None
    await nc.publish(
        subject("referrals.agreement.changed", cache.namespace),  # type: ignore[attr-defined]
        json.dumps({"parties": ["pc-harbour", "network"]}).encode(),
    )

    async def dropped_pair() -> bool:
        return cache.agreements("pc-harbour", "pc-bridge") is None

    await eventually(dropped_pair)
    assert cache.agreements("pc-far", "pc-away") == []


async def test_a_fetch_that_raced_an_event_is_not_kept(cache: PolicyCache) -> None:
    token = cache.token  # taken before the fetch
    cache.drop_agreements(["pc-harbour"])  # the event arrives while the fetch is under way
    cache.keep_agreements("pc-harbour", "pc-bridge", [agreement()], token)
    assert cache.agreements("pc-harbour", "pc-bridge") is None


async def test_without_the_event_feed_no_agreement_is_trusted() -> None:
    cache = PolicyCache()  # never listened: it cannot know of changes
    cache.keep_agreements("pc-harbour", "pc-bridge", [agreement()], cache.token)
    assert cache.agreements("pc-harbour", "pc-bridge") is None
