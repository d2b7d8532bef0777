"""Monitoring and evaluation (seed 004): referrals sent, received, accepted, completed and rejected,
time to accept, the share closed with an outcome; by agency, service type, period, and the client's
gender and age band as copied at referral time. Statistics only: no names, no client ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from services.referrals.lifecycle.repository import referral_repository as repo

Dimension = Literal["agency", "service_type", "period", "gender", "age_band", "urgency"]
DIMENSIONS: tuple[str, ...] = ("agency", "service_type", "period", "gender", "age_band", "urgency")


class KpiCell(BaseModel):
    model_config = {"extra": "allow"}  # the dimensions asked for, by name

    sent: int
    received: int
    accepted: int
    completed: int
    rejected: int
    closed: int
    closed_with_outcome: int
    share_closed_with_outcome: float | None = Field(description="closed_with_outcome / closed")
    overdue: int
    median_hours_to_accept: float | None


class Kpis(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: list[str]
    cells: list[KpiCell]

    model_config = {"populate_by_name": True}


async def compute(
    session: AsyncSession, subject: AuthSubject, *, start: datetime, end: datetime, group_by: list[str]
) -> Kpis:
    rows = await repo.kpis(session, subject, start=start, end=end, group_by=group_by)
    cells = []
    for row in rows:
        seconds = row.pop("median_seconds_to_accept")
        closed, with_outcome = row["closed"], row["closed_with_outcome"]
        cell: dict[str, Any] = {
            **row,
            "share_closed_with_outcome": round(with_outcome / closed, 4) if closed else None,
            "median_hours_to_accept": round(float(seconds) / 3600, 3) if seconds is not None else None,
        }
        cells.append(KpiCell.model_validate(cell))
    # Grouped by nothing, an empty window is still one cell of zeros.
    return Kpis.model_validate({"from": start, "to": end, "group_by": group_by, "cells": cells})
