"""Which data category each field of a client belongs to, and the redaction of a representation.

Intake publishes the labels (`GET /v1/schema/categories`, a flat object field -> category). The
gateway fetches them once per process, refreshes them periodically (`FieldLabels`) and fails
closed: a field with no label (intake's map not yet known, or a field added since) is withheld.
The gateway adds one rule of its own: `sensitive` and `sensitivity_reasons` are metadata to
intake, but they say trafficking / GBV / unaccompanied child, so they are released as `protection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from gateway.policy.pdp import Decision

log = structlog.get_logger(__name__)

# Case metadata: visible to anyone who may know of the client (identity of the record, case status).
METADATA_FIELDS = frozenset(
    {
        "id",
        "agency_id",
        "status",
        "version",
        "consent_revision",
        "registered_by",
        "case_worker",
        "possible_duplicates",
        "merged_into",
        "closure_reason",
        "closed_at",
        "created_at",
        "updated_at",
    }
)

# Labels the gateway sets itself, over intake's.
GATEWAY_FIELD_CATEGORIES: dict[str, str] = {
    "sensitive": "protection",
    "sensitivity_reasons": "protection",
}


class FieldLabels:
    """Intake's field -> category map, cached per process and refreshed in the background."""

    def __init__(self, *, refresh_seconds: float = 300.0, retry_seconds: float = 5.0) -> None:
        self._labels: dict[str, str] = {}
        self._refresh_seconds = refresh_seconds
        self._retry_seconds = retry_seconds
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.fetched_at: float | None = None

    @property
    def labels(self) -> Mapping[str, str]:
        return self._labels

    def category(self, name: str) -> str | None:
        return GATEWAY_FIELD_CATEGORIES.get(name) or self._labels.get(name)

    def set(self, labels: Mapping[str, str]) -> None:
        # Only client fields (bare names) label a client representation.
        self._labels = {k: str(v) for k, v in labels.items() if "." not in k}
        self.fetched_at = time.monotonic()

    async def refresh(self, http: httpx.AsyncClient) -> bool:
        """Fetch the map again; on failure keep the last one (if none, every field stays withheld)."""
        async with self._lock:
            try:
                response = await http.get("/v1/schema/categories")
                response.raise_for_status()
                body = response.json()
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("field_labels_unavailable", error=type(exc).__name__)
                return False
            self.set(body)
            return True

    async def ensure(self, http: httpx.AsyncClient) -> None:
        """The first request of a process waits for the map (once); later ones use what is there."""
        if self.fetched_at is None:
            await self.refresh(http)

    def start(self, http: httpx.AsyncClient) -> None:
        async def loop() -> None:
            while True:
                ok = await self.refresh(http)
                await asyncio.sleep(self._refresh_seconds if ok else self._retry_seconds)

        self._task = asyncio.create_task(loop(), name="gateway-field-labels")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass(frozen=True, slots=True)
class WithheldField:
    path: str
    category: str
    reason: str


def redact(
    record: Mapping[str, Any], decision: Decision, labels: FieldLabels
) -> tuple[dict[str, Any], list[WithheldField]]:
    """The record with every field the decision does not release set to None, and what was withheld."""
    visible: dict[str, Any] = {}
    withheld: list[WithheldField] = []
    for name, value in record.items():
        if name in METADATA_FIELDS:
            visible[name] = value
            continue
        category = labels.category(name)
        if category is None:
            withheld.append(WithheldField(name, "unlabelled", "field_has_no_data_category"))
            visible[name] = None
        elif category in decision.released:
            visible[name] = value
        else:
            why = decision.withheld.get(category)
            withheld.append(WithheldField(name, category, why.reason.value if why else "not_released"))
            visible[name] = None
    return visible, withheld
