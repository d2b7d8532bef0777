from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import SQLModel

from passage.errors import BadRequest

SCHEMA = "referrals"

HSDS_VERSION = "3.0"


class HsdsRoot(SQLModel):
    """`GET /` of the Open Referral HSDS API: which version and profile this directory speaks."""

    version: str
    profile: str
    openapi_url: str


def now() -> datetime:
    return datetime.now(UTC)


def storable(moment: datetime) -> bool:
    """Whether a moment from a query fits the database once in UTC (years 1900..9999): a time like
    0001-01-01T00:00+01:00 is a caller's mistake to answer with 400, not an overflow and a 500."""
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except OverflowError:
        return False
    return 1900 <= utc.year <= 9999


def require_storable(field: str, *moments: datetime | None) -> None:
    """400 naming `field` when a moment from the query cannot be stored (see `storable`)."""
    if not all(m is None or storable(m) for m in moments):
        raise BadRequest(
            f"`{field}` must fall between the years 1900 and 9999 (UTC)",
            errors=[{"field": f"query.{field}", "message": "out of range", "code": "out_of_range"}],
        )
