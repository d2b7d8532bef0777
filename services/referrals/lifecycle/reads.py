"""Reading referrals: one, a batch by ids, or a page of those an agency sent or received, each with
its history. The read scope itself is the repository's `readable()`."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.errors import NotFound
from passage.pagination import DEFAULT_PAGE_SIZE, Page, decode_cursor, encode_cursor
from services.referrals.lifecycle.models import HistoryEntry, Referral, ReferralHistory, ReferralPublic
from services.referrals.lifecycle.repository import referral_repository as repo


async def visible(session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID) -> Referral:
    referral = await repo.get(session, subject, referral_id)
    if referral is None:
        raise NotFound(f"No referral {referral_id} sent or received by your agency")
    return referral


async def get(session: AsyncSession, subject: AuthSubject, referral_id: uuid.UUID) -> ReferralPublic:
    return await public(session, await visible(session, subject, referral_id))


async def by_ids(session: AsyncSession, subject: AuthSubject, ids: list[uuid.UUID]) -> Page[ReferralPublic]:
    rows = await repo.by_ids(session, subject, ids)
    order = {rid: i for i, rid in enumerate(ids)}
    rows.sort(key=lambda r: order[r.id])
    return Page[ReferralPublic](items=await publics(session, rows), next_cursor=None)


async def listing(
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
    size = limit or DEFAULT_PAGE_SIZE
    rows = await repo.page(
        session,
        subject,
        direction=direction,
        status=status,
        client_id=client_id,
        overdue=overdue,
        after=decode_cursor(cursor) if cursor else None,
        limit=size,
    )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page[ReferralPublic](items=await publics(session, rows), next_cursor=next_cursor)


async def public(session: AsyncSession, referral: Referral) -> ReferralPublic:
    return (await publics(session, [referral]))[0]


def public_of_new(referral: Referral, first: ReferralHistory) -> ReferralPublic:
    """A referral just written, whose whole history is the entry written with it (no read back)."""
    return _public(referral, [first])


async def publics(session: AsyncSession, rows: list[Referral]) -> list[ReferralPublic]:
    histories = await repo.history(session, [r.id for r in rows])
    return [_public(row, histories.get(row.id, [])) for row in rows]


def _public(referral: Referral, history: list[ReferralHistory]) -> ReferralPublic:
    out = ReferralPublic.model_validate(referral, from_attributes=True)
    out.history = [
        HistoryEntry(
            from_=h.from_status,
            to=h.to_status,
            kind=h.kind,
            actor=h.actor,
            agency_id=h.agency_id,
            reason=h.reason,
            outcome=h.outcome,
            at=h.at,
        )
        for h in history
    ]
    return out
