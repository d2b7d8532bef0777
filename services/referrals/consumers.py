"""Events referrals listens to: a withdrawn consent puts the referrals that relied on it on hold."""

from __future__ import annotations

from passage.bus import Subscription
from passage.contracts.intake import ConsentWithdrawn
from services.referrals.lifecycle.cascade import on_consent_withdrawn

subscriptions: tuple[Subscription, ...] = (
    Subscription(source="intake", handlers={ConsentWithdrawn.event_type: on_consent_withdrawn}),
)
