"""What referrals publishes. Referral and agreement events come with the referrals issue; the
outbox is in place so they commit with the transitions that cause them."""

from __future__ import annotations

from passage.bus import Outbox
from services.referrals.models import SCHEMA

outbox = Outbox(schema=SCHEMA, source="/passage/referrals")
