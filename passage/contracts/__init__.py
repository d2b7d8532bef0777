"""The published language: every event's payload, versioned, shared by producer and consumers.

Services learn about one another only through these contracts and each other's REST APIs.
"""

from passage.contracts import gateway, intake, notifications, referrals, scoring

__all__ = ["gateway", "intake", "notifications", "referrals", "scoring"]
