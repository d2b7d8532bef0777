"""The agreements the gateway decides on, cached per process and dropped by events.

Consents are not cached at all: they are read from intake on every cross-agency decision, so a
withdrawal made anywhere binds the very next request without waiting for an event.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.policy.agreements import DataSharingAgreement
from passage.bus.nats import subject
from passage.settings import Settings

log = structlog.get_logger(__name__)

AGREEMENT_EVENTS = ("referrals.agreement.changed",)


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    epoch: int
    fetched_at: float


class PolicyCache:
    def __init__(self, *, ttl_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._agreements: dict[frozenset[str], _Entry] = {}
        self._nc: NATS | None = None
        self._subs: list[Subscription] = []
        self._epoch = 0  # moves on every (re)subscription and every connection loss
        self._seen_reconnects = 0
        self._generation = 0  # moves on every drop: a fetch that raced an event is not kept
        self.invalidations = 0

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

    # -- the event feed ----------------------------------------------------------------------
    async def listen(self, nc: NATS, settings: Settings) -> None:
        self._nc = nc
        self._seen_reconnects = int(nc.stats.get("reconnects", 0))
        ns = settings.nats_namespace
        for event_type in AGREEMENT_EVENTS:
            self._subs.append(await nc.subscribe(subject(event_type, ns), cb=self._on_agreement))
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
