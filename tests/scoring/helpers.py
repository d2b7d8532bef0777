"""What scoring's tests share: publishing other components' events, reading scoring's, answer sets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client as NATS

from passage.bus import CloudEvent, EventData
from passage.bus.nats import ensure_stream, subject
from passage.contracts import rss
from passage.settings import Settings

# The calculator's worked example (rss-scoring.md), as option codes giving exactly its points.
WORKED_EXAMPLE: dict[str, str] = {
    # economic: .75 .25 1 .25 1 .75 1 1 0
    "economic_satisfaction": "satisfied",
    "food_security": "often",
    "ability_to_borrow": "yes",
    "borrowing_frequency": "often",
    "debt_to_spending": "no_debts",
    "access_employment_training": "good",
    "currently_working": "yes",
    "productive_assets": "at_least_one",
    "searching_for_job": "yes",
    # social Q10..Q19: .75 .75 .75 1 1 1 1 1 .75 .25 (Q20 derived = 0.875)
    "access_housing": "good",
    "housing_standard": "good",
    "access_education": "good",
    "children_in_school": "yes",
    "access_justice": "very_good",
    "possession_of_id": "yes",
    "access_documentation": "very_good",
    "access_water": "very_good",
    "access_health_care": "good",
    "health_care_quality": "bad",
    # psychosocial: .25 .25 0 .25 .5 1 .25 0 0
    "social_participation": "rarely",
    "support_network": "bad",
    "sense_of_belonging": "strongly_disagree",
    "physical_security": "unsafe",
    "family_conflict": "sometimes",
    "discrimination": "never",
    "signs_of_distress": "very_often",
    "wants_psych_support": "yes",
    "need_to_remigrate": "yes",
    "remigration_reason": "need",
}


def extreme_answers(best: bool) -> dict[str, str]:
    """Every asked indicator at its best (or worst) own option."""
    answers: dict[str, str] = {}
    for key, indicator in rss.INDICATORS.items():
        own = [o for o in indicator.options if o.code not in rss.NON_ANSWER_CODES]
        pick = max(own, key=lambda o: o.points) if best else min(own, key=lambda o: o.points)
        answers[key] = pick.code
    return answers


async def publish(nc: NATS, settings: Settings, data: EventData, *, source: str) -> CloudEvent:
    """Publish an event as component `source` would (its stream, CloudEvents headers)."""
    js = nc.jetstream()
    await ensure_stream(js, source, settings)
    event = CloudEvent.wrap(data, source=f"/passage/{source}", subject=None)
    await js.publish(subject(event.type, settings.nats_namespace), event.data, headers=event.headers())
    return event


async def publish_again(nc: NATS, settings: Settings, event: CloudEvent) -> None:
    """A redelivery: the same event id (bypassing JetStream's duplicate window with a new msg id)."""
    js = nc.jetstream()
    headers = {**event.headers(), "Nats-Msg-Id": f"{event.id}-again"}
    await js.publish(subject(event.type, settings.nats_namespace), event.data, headers=headers)


class Collector:
    """Subscribes (core NATS) to scoring's subjects and keeps what arrives."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def start(self, nc: NATS, settings: Settings) -> None:
        async def handler(msg: Any) -> None:
            self.events.append((msg.headers.get("ce-type", ""), json.loads(msg.data)))

        await nc.subscribe(subject("scoring.>", settings.nats_namespace), cb=handler)

    def of(self, event_type: str, **match: Any) -> list[dict[str, Any]]:
        return [
            data
            for kind, data in self.events
            if kind == event_type and all(str(data.get(k)) == str(v) for k, v in match.items())
        ]

    async def wait_for(
        self, event_type: str, count: int = 1, timeout: float = 15, **match: Any
    ) -> list[dict[str, Any]]:
        for _ in range(int(timeout / 0.05)):
            found = self.of(event_type, **match)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} x {event_type} {match} not seen; saw {[k for k, _ in self.events]}")
