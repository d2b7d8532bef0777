"""Purpose of use: every request through the gateway declares why it wants the data."""

from __future__ import annotations

from enum import StrEnum

PURPOSE_HEADER = "X-Purpose-Of-Use"


class PurposeOfUse(StrEnum):
    CASE_MANAGEMENT = "case_management"
    REFERRAL = "referral"
    FOLLOW_UP = "follow_up"
    STATISTICS = "statistics"
    EMERGENCY = "emergency"


PURPOSES = ", ".join(p.value for p in PurposeOfUse)
