"""What the gateway keeps for its lifetime: service clients, token verifier, policy cache, audit
writer, limits. Created in the component's lifespan, reached through `app.state.gateway`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI
from nats.aio.client import Client as NATS

from gateway.audit.writer import AuditWriter
from gateway.limits import GatewayLimits, RateLimiter
from gateway.policy.cache import PolicyCache
from gateway.policy.fields import FieldLabels
from gateway.referral_feed import ReferralFeed
from gateway.services import ServiceClients, open_service_clients
from passage.auth import TokenVerifier
from passage.bus.outbox import Outbox
from passage.db import Database
from passage.settings import Settings

outbox = Outbox(schema="gateway", source="gateway")


@dataclass
class GatewayRuntime:
    settings: Settings
    limits: GatewayLimits
    services: ServiceClients
    verifier: TokenVerifier
    db: Database
    nats: NATS
    cache: PolicyCache
    audit: AuditWriter
    rate_limiter: RateLimiter
    labels: FieldLabels
    referral_feed: ReferralFeed


@contextlib.asynccontextmanager
async def gateway_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    limits = GatewayLimits()
    cache = PolicyCache(ttl_seconds=limits.policy_cache_ttl_seconds)
    await cache.listen(app.state.nats, settings)
    audit = AuditWriter(app.state.db.engine)
    audit.start()
    try:
        async with open_service_clients(settings) as services:
            labels = FieldLabels(refresh_seconds=limits.field_labels_refresh_seconds)
            labels.start(services.as_service["intake"])
            app.state.gateway = GatewayRuntime(
                settings=settings,
                limits=limits,
                services=services,
                verifier=app.state.token_verifier,
                db=app.state.db,
                nats=app.state.nats,
                cache=cache,
                audit=audit,
                rate_limiter=RateLimiter(limits.rate_per_second, limits.rate_burst),
                labels=labels,
                referral_feed=ReferralFeed(app.state.nats, settings.nats_namespace),
            )
            try:
                yield
            finally:
                await labels.stop()
    finally:
        await audit.stop()
        await cache.close()
