"""The consents and agreements the gateway decides on, cached per process, dropped by events.

Consents, per client, are used only at the consent revision they were read at. Intake moves a
client's `consent_revision` in the same transaction as any change to its consents (granted,
withdrawn, expired, moved by a merge), and the gateway reads the client record afresh on every
request before it decides. So an entry is used only while the record just read carries the same
revision: a withdrawal, however it was made, binds the very next request, even if its event is
still in flight, and even in a replica that never heard it. `intake.consent.*` events drop the
client's entry the moment they arrive (less to keep, and nothing stale lingers); a record without
a revision is never answered from the cache (fail closed: read again).

An agreement entry is used only while the gateway can be sure nothing changed since it was fetched:
- `referrals.agreement.changed` drops the agreements between its parties the moment it arrives
  (a core NATS subscription of this process: every replica hears every event);
- the subscription must have been up, without a reconnect, since the entry was fetched: while
  NATS is away, or after a reconnect (events may have been missed), every entry is stale;
- a time-to-live bounds the rest (a lost message, a clock of events running behind).
Stale means fetched again from the service; if the service cannot answer, the read is refused:
the gateway fails closed. An agreement signed through the gateway drops the entry at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.policy.agreements import DataSharingAgreement
from passage.bus.nats import subject
from passage.consent import ConsentRecord
from passage.settings import Settings

log = structlog.get_logger(__name__)

AGREEMENT_EVENTS = ("referrals.agreement.changed",)
CONSENT_EVENTS = ("intake.consent.granted", "intake.consent.withdrawn", "intake.consent.expired")
MAX_CONSENT_ENTRIES = 50_000  # clients; the least recently used go first


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    epoch: int
    fetched_at: float


class PolicyCache:
    def __init__(
        self,
        *,
        ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_consent_entries: int = MAX_CONSENT_ENTRIES,
        consent_ttl_seconds: float = 600.0,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._agreements: dict[frozenset[str], _Entry] = {}
        self._consents: OrderedDict[uuid.UUID, tuple[int, list[ConsentRecord], float]] = OrderedDict()
        self._max_consents = max_consent_entries
        self._nc: NATS | None = None
        self._subs: list[Subscription] = []
        self._epoch = 0  # moves on every (re)subscription and every connection loss
        self._seen_reconnects = 0
        self._generation = 0  # moves on every drop: a fetch that raced an event is not kept
        self.invalidations = 0
        self.consent_hits = 0
        self._consent_ttl = consent_ttl_seconds

    # -- freshness ---------------------------------------------------------------------------
    def _listening(self) -> bool:
        nc = self._nc
        if nc is None or not self._subs or not nc.is_connected:
            return False
        reconnects = int(nc.stats.get("reconnects", 0))
        if reconnects != self._seen_reconnects:
            # Events published while we were away were not heard: nothing cached can be trusted.
            self._seen_reconnects = reconnects
            self._epoch += 1
            self.clear()
        return True

    def _fresh(self, entry: _Entry | None) -> bool:
        return (
            entry is not None
            and self._listening()
            and entry.epoch == self._epoch
            and self._clock() - entry.fetched_at < self._ttl
        )

    # -- consents ----------------------------------------------------------------------------
    def consents(self, client_id: uuid.UUID, revision: int | None) -> list[ConsentRecord] | None:
        """The client's consents as read at `revision`, the revision the caller has just read on
        the client's record; None (read them again) for any other revision, or none."""
        if revision is None:
            return None
        entry = self._consents.get(client_id)
        if entry is None or entry[0] != revision or self._clock() - entry[2] >= self._consent_ttl:
            return None
        self._consents.move_to_end(client_id)
        self.consent_hits += 1
        return entry[1]

    def keep_consents(self, client_id: uuid.UUID, revision: int, records: list[ConsentRecord]) -> None:
        """Keep what intake answered with the revision it read IN THE SAME SNAPSHOT as the consents."""
        held = self._consents.get(client_id)
        if held is not None and held[0] > revision:
            return  # a slower read of an older state does not replace a newer one
        self._consents[client_id] = (revision, records, self._clock())
        self._consents.move_to_end(client_id)
        while len(self._consents) > self._max_consents:
            self._consents.popitem(last=False)

    def drop_consents(self, client_id: uuid.UUID) -> None:
        self.invalidations += 1
        self._consents.pop(client_id, None)

    # -- agreements --------------------------------------------------------------------------
    def agreements(self, a: str, b: str) -> list[DataSharingAgreement] | None:
        entry = self._agreements.get(frozenset((a, b)))
        return entry.value if entry is not None and self._fresh(entry) else None

    def keep_agreements(
        self, a: str, b: str, agreements: list[DataSharingAgreement], token: tuple[int, int]
    ) -> None:
        if token == self.token and self._listening():
            self._agreements[frozenset((a, b))] = _Entry(agreements, self._epoch, self._clock())

    def drop_agreements(self, parties: Iterable[str]) -> None:
        self.invalidations += 1
        self._generation += 1
        # Every pair with one of the parties in it: a network agreement concerns all its pairs.
        named = set(parties)
        self._agreements = {k: v for k, v in self._agreements.items() if not (k & named)}

    @property
    def token(self) -> tuple[int, int]:
        """Take before fetching, give back to keep_*: an event arriving meanwhile wins."""
        return (self._epoch, self._generation)

    def clear(self) -> None:
        self._agreements.clear()
        self._consents.clear()

    # -- the event feed ----------------------------------------------------------------------
    async def listen(self, nc: NATS, settings: Settings) -> None:
        self._nc = nc
        self._seen_reconnects = int(nc.stats.get("reconnects", 0))
        ns = settings.nats_namespace
        for event_type in AGREEMENT_EVENTS:
            self._subs.append(await nc.subscribe(subject(event_type, ns), cb=self._on_agreement))
        for event_type in CONSENT_EVENTS:
            self._subs.append(await nc.subscribe(subject(event_type, ns), cb=self._on_consent))
        await nc.flush()
        self._epoch += 1

    async def close(self) -> None:
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may already be draining
                log.debug("policy_cache_unsubscribe_failed", error=str(exc))
        self._subs.clear()
        self._epoch += 1
        self.clear()

    async def _on_agreement(self, msg: Msg) -> None:
        try:
            parties = [str(p) for p in json.loads(msg.data)["parties"]]
        except (ValueError, KeyError, TypeError):
            log.warning("policy_cache_unreadable_agreement_event", subject=msg.subject)
            self._epoch += 1
            self.clear()
            return
        self.drop_agreements(parties)

    async def _on_consent(self, msg: Msg) -> None:
        try:
            client_id = uuid.UUID(str(json.loads(msg.data)["client_id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("policy_cache_unreadable_consent_event", subject=msg.subject)
            self._consents.clear()
            return
        self.drop_consents(client_id)
