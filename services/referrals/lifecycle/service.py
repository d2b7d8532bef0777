"""The referral lifecycle's one entry point for the routes: sending, moving, referring back or
onward, reviewing and reading. The work is in the modules named by each method:

- `preconditions`: agreement, directory, client file and consent checks (409 with a `reason`);
- `sending`: a new referral; `transitions`: status moves, resuming, the DPO's review;
- `two_way`: refer back and transfer onward; `reads`: one, a batch, a page, with history.
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.pagination import Page
from services.referrals.lifecycle import reads, sending, transitions, two_way
from services.referrals.lifecycle.intake import IntakeClient
from services.referrals.lifecycle.models import (
    DpoReview,
    ReferBack,
    ReferralCreate,
    ReferralPublic,
    Transfer,
    TransitionRequest,
)


class ReferralService:
    async def create(
        self, session: AsyncSession, subject: AuthSubject, body: ReferralCreate, intake: IntakeClient
    ) -> ReferralPublic:
        return await sending.create_referral(session, subject, body, intake)

    async def transition(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        referral_id: uuid.UUID,
        body: TransitionRequest,
        intake: IntakeClient,
    ) -> ReferralPublic:
        return await transitions.transition(session, subject, referral_id, body, intake)

    async def review(
        self, session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID, body: DpoReview
    ) -> ReferralPublic:
        return await transitions.review(session, subject, referral_id, body)

    async def refer_back(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        referral_id: uuid.UUID,
        body: ReferBack,
        intake: IntakeClient,
    ) -> ReferralPublic:
        return await two_way.refer_back(session, subject, referral_id, body, intake)

    async def transfer(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        referral_id: uuid.UUID,
        body: Transfer,
        intake: IntakeClient,
    ) -> ReferralPublic:
        return await two_way.transfer(session, subject, referral_id, body, intake)

    async def get(
        self, session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID
    ) -> ReferralPublic:
        return await reads.get(session, subject, referral_id)

    async def by_ids(
        self, session: AsyncSession, subject: AuthSubject, ids: list[uuid.UUID]
    ) -> Page[ReferralPublic]:
        return await reads.by_ids(session, subject, ids)

    async def listing(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        direction: str | None,
        status: str | None,
        client_id: uuid.UUID | None,
        overdue: bool | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page[ReferralPublic]:
        return await reads.listing(
            session,
            subject,
            direction=direction,
            status=status,
            client_id=client_id,
            overdue=overdue,
            cursor=cursor,
            limit=limit,
        )


referral_service = ReferralService()
