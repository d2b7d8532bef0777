"""Events referrals listens to. The consent-withdrawal cascade comes with the referrals issue."""

from __future__ import annotations

from passage.bus import Subscription

subscriptions: tuple[Subscription, ...] = ()
