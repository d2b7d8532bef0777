"""What referrals asks intake, on its own service identity: a client's consents, and the two
demographic attributes copied onto a referral for statistics (gender, age band)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from passage.consent import ConsentRecord
from passage.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

AGE_BANDS = ((0, 17, "0-17"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 49, "35-49"), (50, 64, "50-64"))
_MAX_CONSENT_PAGES = 20


@dataclass(frozen=True)
class ClientFacts:
    id: uuid.UUID
    agency_id: str
    status: str
    gender: str | None
    age_band: str


def age_band(birth_date: date | None, birth_year: int | None, on: date) -> str:
    if birth_date is not None:
        age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    elif birth_year is not None:
        age = on.year - birth_year
    else:
        return "unknown"
    if age < 0:
        return "unknown"
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return "65+"


class IntakeClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            log.warning("intake_unreachable", path=path, error=type(exc).__name__)
            raise ServiceUnavailable(
                "Intake cannot be reached to check the client and consent; retry shortly",
                headers={"Retry-After": "2"},
            ) from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            log.warning("intake_refused", path=path, status=response.status_code)
            raise ServiceUnavailable(
                f"Intake answered {response.status_code} while checking the client and consent; retry "
                "shortly",
                headers={"Retry-After": "2"},
            )
        return response

    async def client(self, client_id: uuid.UUID, *, on: date) -> ClientFacts | None:
        response = await self._get(f"/v1/clients/{client_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(f"Intake answered {response.status_code} for the client")
        body: dict[str, Any] = response.json()
        birth_date = _date(body.get("birth_date"))
        birth_year = body.get("birth_year") if isinstance(body.get("birth_year"), int) else None
        gender = body.get("gender")
        return ClientFacts(
            id=client_id,
            agency_id=str(body.get("agency_id", "")),
            status=str(body.get("status", "open")),
            gender=gender if isinstance(gender, str) and gender else None,
            age_band=age_band(birth_date, birth_year, on),
        )

    async def consents(self, client_id: uuid.UUID, *, at: datetime) -> list[ConsentRecord]:
        records: list[ConsentRecord] = []
        cursor: str | None = None
        for _ in range(_MAX_CONSENT_PAGES):
            params = {"active_at": at.isoformat(), "limit": "200"}
            if cursor:
                params["cursor"] = cursor
            response = await self._get(f"/v1/clients/{client_id}/consents", params)
            if response.status_code == 404:
                return []
            if response.status_code != 200:
                raise ServiceUnavailable(f"Intake answered {response.status_code} for the client's consents")
            page = response.json()
            for item in page.get("items", []):
                try:
                    records.append(ConsentRecord.model_validate(item))
                except ValidationError:
                    log.warning("intake_consent_unreadable", client_id=str(client_id), consent=item.get("id"))
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return records


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
