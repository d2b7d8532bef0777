"""Proposing, signing and ending agreements; and the question a referral asks of them: which
agreement in force covers this pair, type and purpose, for this role?"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject, Role
from passage.contracts.referrals import AgreementChanged
from passage.errors import Conflict, Forbidden, NotFound, Unprocessable
from passage.pagination import DEFAULT_PAGE_SIZE, Page, decode_cursor, encode_cursor
from services.referrals.agreements.models import (
    ANY_TYPE,
    NETWORK,
    Agreement,
    AgreementCreate,
    AgreementPublic,
    AgreementStatus,
    Direction,
    party_key,
)
from services.referrals.agreements.repository import agreement_repository as repo
from services.referrals.events import outbox
from services.referrals.models import now


def public(agreement: Agreement, *, at: datetime | None = None) -> AgreementPublic:
    moment = at or now()
    status = agreement.status
    if (
        status == AgreementStatus.ACTIVE.value
        and agreement.valid_to is not None
        and agreement.valid_to <= moment
    ):
        status = AgreementStatus.EXPIRED.value
    return AgreementPublic.model_validate(
        {**agreement.model_dump(), "status": status, "in_force": in_force(agreement, moment)}
    )


def in_force(agreement: Agreement, at: datetime) -> bool:
    return (
        agreement.effective_from is not None
        and agreement.effective_from <= at
        and (agreement.effective_to is None or agreement.effective_to > at)
        and agreement.valid_from <= at
        and (agreement.valid_to is None or agreement.valid_to > at)
    )


@dataclass(frozen=True)
class Coverage:
    agreement: Agreement
    direction: Direction


def _party_of(subject: AuthSubject, agreement_parties: list[str]) -> str | None:
    """Which party the caller signs for: their agency (as its agency_admin), or the network (as a
    coordinator)."""
    if subject.agency in agreement_parties and subject.has_any_role({Role.AGENCY_ADMIN.value}):
        return subject.agency
    if NETWORK in agreement_parties and subject.has_any_role({Role.COORDINATOR.value}):
        return NETWORK
    return None


class AgreementService:
    async def propose(
        self, session: AsyncSession, subject: AuthSubject, body: AgreementCreate
    ) -> AgreementPublic:
        party = _party_of(subject, body.parties)
        if party is None:
            raise Forbidden(
                "An agreement is proposed by an agency_admin of one of its parties "
                "(or a coordinator for the network's side)"
            )
        series_id, version = uuid.uuid4(), 1
        if body.supersedes is not None:
            previous = await repo.get(session, subject, body.supersedes)
            if previous is None:
                raise Unprocessable(
                    f"No agreement {body.supersedes} to supersede",
                    errors=[
                        {
                            "field": "body.supersedes",
                            "message": "unknown agreement",
                            "code": "unknown_reference",
                        }
                    ],
                )
            if previous.party_key != party_key(body.parties):
                raise Unprocessable(
                    "A new version must be between the same parties as the one it supersedes",
                    errors=[
                        {
                            "field": "body.parties",
                            "message": "differ from the superseded version",
                            "code": "mismatch",
                        }
                    ],
                )
            series_id, version = previous.series_id, await repo.next_version(session, previous.series_id)
        moment = now()
        agreement = Agreement(
            series_id=series_id,
            version=version,
            parties=list(body.parties),
            party_key=party_key(body.parties),
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            directions=[d.model_dump(mode="json") for d in body.directions],
            signatures=[{"agency_id": party, "signed_by": subject.sub, "signed_at": moment.isoformat()}],
            on_consent_withdrawn=body.on_consent_withdrawn,
            supersedes=body.supersedes,
            proposed_by=subject.sub,
            created_at=moment,
            updated_at=moment,
        )
        await repo.add(session, agreement)
        await _changed(session, agreement)
        return public(agreement)

    async def sign(
        self, session: AsyncSession, subject: AuthSubject, agreement_id: uuid.UUID
    ) -> AgreementPublic:
        agreement = await _for_change(session, agreement_id)
        party = _party_of(subject, agreement.parties)
        if party is None:
            raise Forbidden(
                "An agreement is signed by an agency_admin of a party (a coordinator for the network)"
            )
        if agreement.status != AgreementStatus.PROPOSED.value:
            raise Conflict(f"This agreement is {agreement.status}; only a proposed agreement can be signed")
        if any(s["agency_id"] == party for s in agreement.signatures):
            raise Conflict(f"{party} has already signed this agreement; the other party must sign it")
        moment = now()
        agreement.signatures = [
            *agreement.signatures,
            {"agency_id": party, "signed_by": subject.sub, "signed_at": moment.isoformat()},
        ]
        agreement.updated_at = moment
        if {s["agency_id"] for s in agreement.signatures} >= set(agreement.parties):
            for previous in await repo.active_in_series(session, agreement.series_id):
                previous.status = AgreementStatus.SUPERSEDED.value
                previous.effective_to = moment
                previous.updated_at = moment
                session.add(previous)
                await _changed(session, previous)
            agreement.status = AgreementStatus.ACTIVE.value
            agreement.effective_from = moment
        session.add(agreement)
        await session.flush()
        await _changed(session, agreement)
        return public(agreement)

    async def revoke(
        self, session: AsyncSession, subject: AuthSubject, agreement_id: uuid.UUID
    ) -> AgreementPublic:
        agreement = await _for_change(session, agreement_id)
        if _party_of(subject, agreement.parties) is None:
            raise Forbidden(
                "An agreement is revoked by an agency_admin of a party (a coordinator for the network)"
            )
        if agreement.status not in (AgreementStatus.ACTIVE.value, AgreementStatus.PROPOSED.value):
            raise Conflict(f"This agreement is already {agreement.status}")
        moment = now()
        agreement.status = AgreementStatus.REVOKED.value
        if agreement.effective_from is not None:
            agreement.effective_to = moment
        agreement.updated_at = moment
        session.add(agreement)
        await session.flush()
        await _changed(session, agreement)
        return public(agreement)

    async def get(
        self, session: AsyncSession, subject: AuthSubject, agreement_id: uuid.UUID
    ) -> AgreementPublic:
        agreement = await repo.get(session, subject, agreement_id)
        if agreement is None:
            raise NotFound(f"No agreement {agreement_id} visible to your agency")
        return public(agreement)

    async def between(
        self, session: AsyncSession, subject: AuthSubject, a: str, b: str, at: datetime | None
    ) -> Page[AgreementPublic]:
        """Agreements between a and b (and each one's network agreement): those that applied at `at`
        if given, else every version; the one in force first (the pair's own before a network one)."""
        keys = [party_key([a, b])] + [party_key([x, NETWORK]) for x in (a, b) if x != NETWORK]
        moment = at or now()
        rows = await repo.between(session, subject, keys, at)
        pair = party_key([a, b])
        rows.sort(key=lambda r: (not in_force(r, moment), r.party_key != pair, -r.version))
        return Page[AgreementPublic](items=[public(r, at=moment) for r in rows], next_cursor=None)

    async def listing(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        status: str | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page[AgreementPublic]:
        size = limit or DEFAULT_PAGE_SIZE
        rows = await repo.page(
            session, subject, status=status, after=decode_cursor(cursor) if cursor else None, limit=size
        )
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return Page[AgreementPublic](items=[public(r) for r in rows], next_cursor=next_cursor)

    async def covering(
        self,
        session: AsyncSession,
        *,
        from_agency: str,
        to_agency: str,
        referral_type: str,
        purpose: str,
        roles: frozenset[str],
        at: datetime,
        emergency: bool = False,
    ) -> Coverage:
        """The agreement in force that lets `from_agency` refer to `to_agency`; else 409 saying what
        is missing.

        The pair's own agreement is asked first, then the sender's network agreement. In an
        emergency the type and purpose are not asked (the SOP still has to link the two agencies)."""
        keys = [party_key([from_agency, to_agency]), party_key([from_agency, NETWORK])]
        candidates = await repo.in_force(session, keys, at)
        candidates.sort(key=lambda r: r.party_key != keys[0])
        if not candidates:
            raise Conflict(
                f"No data-sharing agreement between {from_agency} and {to_agency} is in force: "
                "your agency_admin can propose one (POST /v1/agreements) for the other agency to sign",
                reason="no_agreement",
            )
        problems: list[str] = []
        for agreement in candidates:
            for raw in agreement.directions:
                direction = Direction.model_validate(raw)
                if direction.from_agency != from_agency or direction.to_agency not in (to_agency, NETWORK):
                    continue
                if not emergency:
                    if (
                        referral_type not in direction.referral_types
                        and ANY_TYPE not in direction.referral_types
                    ):
                        problems.append(
                            f"agreement {agreement.id} v{agreement.version} does not cover referrals of type "
                            f"'{referral_type}' (it covers {', '.join(direction.referral_types)})"
                        )
                        continue
                    if purpose not in direction.purposes:
                        problems.append(
                            f"agreement {agreement.id} v{agreement.version} does not allow the purpose "
                            f"'{purpose}'"
                        )
                        continue
                    if roles.isdisjoint(direction.who_may_refer):
                        problems.append(
                            f"under agreement {agreement.id} v{agreement.version} only "
                            f"{', '.join(direction.who_may_refer)} may refer"
                        )
                        continue
                return Coverage(agreement=agreement, direction=direction)
            if not problems:
                problems.append(
                    f"agreement {agreement.id} v{agreement.version} has no direction from {from_agency} to "
                    f"{to_agency}"
                )
        raise Conflict(
            "No agreement in force covers this referral: " + "; ".join(problems),
            reason="agreement_does_not_cover",
        )


async def _for_change(session: AsyncSession, agreement_id: uuid.UUID) -> Agreement:
    """The agreement, locked. A caller who is no party gets 403 (not 404) from the callers: an
    agreement between agencies is not personal data, and "you are not a party" is the actionable answer."""
    agreement = await repo.get_for_update(session, agreement_id)
    if agreement is None:
        raise NotFound(f"No agreement {agreement_id}")
    return agreement


async def _changed(session: AsyncSession, agreement: Agreement) -> None:
    await outbox.add(
        session,
        AgreementChanged(
            agreement_id=agreement.id,
            version_number=agreement.version,
            parties=list(agreement.parties),
            status=agreement.status,
            valid_from=agreement.valid_from,
            valid_to=agreement.valid_to,
        ),
        subject=f"agreement/{agreement.id}",
    )


agreement_service = AgreementService()
