"""Matching: the directory projection, kept from referrals' `directory.changed` events and its HSDS
API, and the ranking of services and mentors over it (`matching.py`). It never commits."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import matching
from services.scoring.directory import DirectorySource, directory_source, project_service
from services.scoring.repository import DirectoryRepository
from services.scoring.schemas import (
    MentorMatch,
    MentorMatches,
    MentorMatchRequest,
    ServiceMatch,
    ServiceMatches,
    ServiceMatchRequest,
)


class MatchingService:
    def __init__(self, source: DirectorySource) -> None:
        self._source = source
        self._directory = DirectoryRepository()

    async def directory_changed(
        self, session: AsyncSession, entity: str, ids: list[str], change: str
    ) -> None:
        if entity == "service":
            if change == "deleted":
                await self._directory.remove(session, ids)
                return
            await self.refresh(session, ids)
        elif entity == "organization":
            await self.refresh(session, await self._directory.ids_of_organizations(session, ids))
        else:  # a location, service_at_location or taxonomy term may touch any service: resync
            await self.resync(session)

    async def refresh(self, session: AsyncSession, service_ids: list[str]) -> None:
        """Fetch these services (all before writing any: no row is locked while waiting on HTTP)."""
        bodies = await self._source.services(sorted(set(service_ids)))
        await self._directory.remove(session, [s for s, body in bodies.items() if body is None])
        await self._directory.put(session, [project_service(b) for b in bodies.values() if b is not None])

    async def resync(self, session: AsyncSession) -> None:
        """The whole directory again, from its pages of full service objects."""
        rows = [project_service(body) async for page in self._source.pages() for body in page]
        gone = await self._directory.all_ids(session) - {r["service_id"] for r in rows}
        await self._directory.remove(session, sorted(gone))
        await self._directory.put(session, rows)

    async def match_services(self, session: AsyncSession, request: ServiceMatchRequest) -> ServiceMatches:
        ranked, excluded = matching.rank_services(await self._directory.active(session), request)
        return ServiceMatches(
            items=[
                ServiceMatch(
                    rank=n,
                    service_id=s.service_id,
                    organization_id=s.organization_id,
                    name=s.name,
                    fit=round(r.fit, 6),
                    open_slots=s.open_slots,
                    waiting_time_days=s.waiting_time_days,
                    reasons=r.reasons,
                )
                for n, (s, r) in enumerate(ranked, start=1)
            ],
            excluded=excluded,
        )

    async def match_mentors(self, session: AsyncSession, request: MentorMatchRequest) -> MentorMatches:
        ranked = matching.rank_mentors(await self._directory.active(session, mentoring_only=True), request)
        return MentorMatches(
            items=[
                MentorMatch(
                    rank=n,
                    programme_id=p.service_id,
                    mentor_id=m["id"],
                    fit=round(r.fit, 6),
                    active_mentees=int(m.get("active_mentees") or 0),
                    max_mentees=m.get("max_mentees"),
                    reasons=r.reasons,
                )
                for n, (p, m, r) in enumerate(ranked, start=1)
            ]
        )


matching_service = MatchingService(directory_source)
