"""Events intake listens to. None yet: referral timelines and plan hints come with their issues."""

from __future__ import annotations

from passage.bus import Subscription

subscriptions: tuple[Subscription, ...] = ()
