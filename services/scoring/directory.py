"""The service directory as scoring knows it: HSDS service objects fetched from referrals' API
(`/v1/hsds/services/{id}`) and flattened into the projection the matcher ranks over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from passage.errors import ServiceUnavailable
from passage.service_auth import service_http
from passage.settings import Settings

_IN_FLIGHT = 8


def _lower(values: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and value.strip():
            seen.setdefault(value.strip().lower(), None)
    return list(seen)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _timestamp(value: Any) -> datetime | None:
    """An aware ISO-8601 timestamp (HSDS `updated_at`), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def project_service(body: dict[str, Any]) -> dict[str, Any]:
    """The projection's columns from a full HSDS service object (with Passage's extensions)."""
    terms: list[Any] = []
    for attribute in _dicts(body.get("attributes")):
        term = attribute.get("taxonomy_term")
        if isinstance(term, dict):
            terms += [term.get("id"), term.get("code"), term.get("name"), term.get("term")]
        terms += [attribute.get("taxonomy_term_id"), attribute.get("value")]
    raw_languages = body.get("languages")
    languages = [
        item.get("code") if isinstance(item, dict) else item
        for item in (raw_languages if isinstance(raw_languages, list) else [])
    ]
    areas: list[Any] = []
    for area in _dicts(body.get("service_areas")):
        areas += [area.get("id"), area.get("name"), area.get("code"), area.get("extent")]
    for sal in _dicts(body.get("service_at_locations")):
        location = sal.get("location")
        for address in _dicts(location.get("addresses") if isinstance(location, dict) else None):
            areas += [address.get("region"), address.get("state_province"), address.get("city")]
    capacity = _dict(body.get("capacity"))
    organization = _dict(body.get("organization"))
    return {
        "source_updated_at": _timestamp(body.get("updated_at")),
        "service_id": str(body["id"]),
        "organization_id": body.get("organization_id") or organization.get("id"),
        "name": str(body.get("name") or "")[:500],
        "status": str(body.get("status") or "active")[:40],
        "terms": _lower(terms),
        "languages": _lower(languages),
        "areas": _lower(str(a) if isinstance(a, int) else a for a in areas),
        "eligibility": _eligibility(body),
        "open_slots": _int_or_none(capacity.get("open_slots")),
        "waiting_time_days": _int_or_none(capacity.get("waiting_time_days")),
        "mentors": [_mentor(m) for m in _dicts(body.get("mentors")) if m.get("id") is not None],
    }


def _eligibility(body: dict[str, Any]) -> dict[str, Any]:
    """Age bounds, genders and required attributes, from HSDS fields or Passage's `eligibility` object."""
    raw = body.get("eligibility")
    source: dict[str, Any] = raw if isinstance(raw, dict) else {}
    result: dict[str, Any] = {}
    minimum = _int_or_none(source.get("minimum_age", body.get("minimum_age")))
    maximum = _int_or_none(source.get("maximum_age", body.get("maximum_age")))
    if minimum is not None:
        result["minimum_age"] = minimum
    if maximum is not None:
        result["maximum_age"] = maximum
    genders = source.get("genders")
    if isinstance(genders, list):
        result["genders"] = _lower(genders)
    required = source.get("attributes", source.get("required_attributes"))
    if isinstance(required, list):
        result["attributes"] = _lower(required)
    elif isinstance(raw, list):
        result["attributes"] = _lower(
            item.get("code") or item.get("eligibility") if isinstance(item, dict) else item for item in raw
        )
    return result


def _mentor(raw: dict[str, Any]) -> dict[str, Any]:
    languages = raw.get("languages")
    return {
        "id": str(raw["id"]),
        "languages": _lower(languages if isinstance(languages, list) else []),
        "origin": _text(raw.get("origin")),
        "gender": _text(raw.get("gender")),
        "area": _text(raw.get("area")),
        "active_mentees": _int_or_none(raw.get("active_mentees")) or 0,
        "max_mentees": _int_or_none(raw.get("max_mentees")),
    }


class DirectorySource:
    """Reads referrals' HSDS API on scoring's own account. One HTTP client per process."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI, settings: Settings) -> AsyncIterator[None]:
        self._http = service_http(settings, "referrals", caller="scoring")
        try:
            yield
        finally:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise ServiceUnavailable("scoring is not connected to the referrals directory")
        return self._http

    async def service(self, service_id: str) -> dict[str, Any] | None:
        """The full service object, or None if the directory no longer has it."""
        response = await self.http.get(f"/v1/hsds/services/{service_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()  # anything else: the consumer retries the event
        body: dict[str, Any] = response.json()
        return body

    async def services(self, service_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each service's full object (None: gone), a few requests in flight at a time."""
        gate = asyncio.Semaphore(_IN_FLIGHT)

        async def one(service_id: str) -> dict[str, Any] | None:
            async with gate:
                return await self.service(service_id)

        bodies = await asyncio.gather(*(one(s) for s in service_ids))
        return dict(zip(service_ids, bodies, strict=True))

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Every service of the directory, a page of full objects at a time (HSDS envelope): a resync
        costs one request per 100 services."""
        page = 1
        while True:
            response = await self.http.get("/v1/hsds/services", params={"page": page, "per_page": 100})
            response.raise_for_status()
            body = response.json()
            contents = [
                c for c in body.get("contents", []) if isinstance(c, dict) and c.get("id") is not None
            ]
            yield contents
            if body.get("last_page", True) or not contents:
                return
            page += 1


directory_source = DirectorySource()
