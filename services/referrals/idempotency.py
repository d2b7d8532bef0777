"""Idempotency keys on referrals' POSTs (passage.idempotency), kept in the referrals schema."""

from __future__ import annotations

from passage.idempotency import Idempotency
from services.referrals.models import SCHEMA

idempotency = Idempotency(SCHEMA)
