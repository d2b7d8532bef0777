from __future__ import annotations

from sqlmodel import SQLModel

SCHEMA = "referrals"

HSDS_VERSION = "3.0"


class HsdsRoot(SQLModel):
    """`GET /` of the Open Referral HSDS API: which version and profile this directory speaks."""

    version: str
    profile: str
    openapi_url: str
