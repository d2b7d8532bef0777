"""Every query of intake's tables. The agency scope is applied here, in one place: `client_scope`.

Every other resource (consents, assessments, plans, follow-ups, households, changes) belongs to a
client and is reached through a readable client, so it inherits the same scope.

Who reads what (intake's own API; cross-agency sharing is the gateway's decision, never intake's):
- role `service` (a Passage component on its own account): every agency's clients;
- supervisor, agency_admin, data_protection_officer: every client of their agency;
- everyone else of the agency (case_worker, partner_system, coordinator): the agency's clients,
  except sensitive cases (trafficking, GBV, unaccompanied child), which only the responsible case
  worker and the worker who registered them see.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject, Role
from services.intake.models import (
    SCHEMA,
    Assessment,
    CasePlan,
    Change,
    Client,
    Consent,
    Followup,
    Household,
    HouseholdMember,
    PlanReview,
)

NAME_THRESHOLD = 0.45
CHANGES = Change.__table__  # type: ignore[attr-defined]
CLIENTS = Client.__table__  # type: ignore[attr-defined]
# Built once (the registration path runs it on every call); `txid` and `seq` come from the server.
CHANGE_COLUMNS = ("agency_id", "client_id", "resource", "resource_id", "action", "changed_by", "changed_at")
RECORD_CHANGE = sa.insert(CHANGES).values({name: sa.bindparam(f"p_{name}") for name in CHANGE_COLUMNS})
# Every transaction with an id below this one has ended (committed or rolled back).
SNAPSHOT_XMIN = sa.literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", sa.BigInteger)


# Cheap tests first (birth year, sex), so the trigram work runs only on compatible rows when the
# planner scans; the `%` operator lets the trigram GIN on the generated column `search_name`
# find candidates (at pg_trgm's default threshold 0.3) when it is selective, and `similarity` then
# keeps those at :threshold. Missing inputs (no year, sex, phone or documents) make their test
# pass or their arm empty, so the statement keeps one shape (compiled and prepared once).
DUPLICATES_SQL = """
WITH probe AS (
    SELECT CAST(:year AS integer) AS year, CAST(:sex AS text) AS sex, CAST(:phone AS text) AS phone,
           CAST(:docs AS text[]) AS docs, CAST(:name AS text) AS name
)
SELECT c.id, public.similarity(c.search_name, p.name) AS score,
       coalesce(c.phone_key = p.phone, false) AS phone,
       c.document_keys && p.docs AS document
FROM intake.clients c, probe p
WHERE c.agency_id = :agency AND c.merged_into IS NULL AND c.status <> 'anonymised'
  AND (
        (
            (p.year IS NULL OR c.birth_year IS NULL OR c.birth_year BETWEEN p.year - 1 AND p.year + 1)
            AND (p.sex IS NULL OR c.sex IS NULL OR c.sex IN (p.sex, 'unknown'))
            AND (
                c.phone_key = p.phone
                OR (c.search_name OPERATOR(public.%) p.name
                    AND public.similarity(c.search_name, p.name) >= :threshold)
            )
        )
        OR c.document_keys && p.docs
  )
ORDER BY document DESC, score DESC
LIMIT :limit
"""
DUPLICATES = sa.text(DUPLICATES_SQL).columns(
    sa.column("id", sa.Uuid),
    sa.column("score", sa.Float),
    sa.column("phone", sa.Boolean),
    sa.column("document", sa.Boolean),
)


class DuplicateMatch(NamedTuple):
    id: uuid.UUID
    similarity: float
    matched_on: list[str]  # identity_document, phone, name


SEES_SENSITIVE = frozenset({Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.DATA_PROTECTION_OFFICER, Role.SERVICE})


def client_scope(subject: AuthSubject) -> ColumnElement[bool]:
    """THE scope: which client rows `subject` may touch through intake's API."""
    if subject.has_any_role({Role.SERVICE}):
        return sa.true()
    in_agency = col(Client.agency_id) == subject.agency
    if subject.has_any_role(SEES_SENSITIVE):
        return in_agency
    return sa.and_(
        in_agency,
        or_(
            col(Client.sensitive).is_(False),
            col(Client.case_worker) == subject.sub,
            col(Client.registered_by) == subject.sub,
        ),
    )


def _in_force(at: datetime) -> tuple[ColumnElement[bool], ...]:
    """A consent in force at `at`: started, not ended, not withdrawn before."""
    return (
        col(Consent.period_start) <= at,
        or_(col(Consent.period_end).is_(None), col(Consent.period_end) > at),
        or_(col(Consent.withdrawn_at).is_(None), col(Consent.withdrawn_at) > at),
    )


class ClientRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[Client]:
        return select(Client).where(client_scope(subject))

    async def get(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, *, for_update: bool = False
    ) -> Client | None:
        query = self.readable(subject).where(Client.id == client_id)
        if for_update:
            query = query.with_for_update()
        return (await session.exec(query)).first()

    async def get_many(
        self, session: AsyncSession, subject: AuthSubject, ids: Sequence[uuid.UUID]
    ) -> list[Client]:
        query = self.readable(subject).where(col(Client.id).in_(list(ids)))
        return list((await session.exec(query)).all())

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
        status: str | None = None,
        q: str | None = None,
        migration_phase: str | None = None,
        sensitive: bool | None = None,
        case_worker: str | None = None,
        vulnerability: str | None = None,
    ) -> list[Client]:
        query = self.readable(subject).where(col(Client.merged_into).is_(None))
        if status:
            query = query.where(Client.status == status)
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(col(Client.given_name).ilike(pattern), col(Client.family_name).ilike(pattern))
            )
        if migration_phase:
            query = query.where(Client.profile["migration_phase"].astext == migration_phase)
        if sensitive is not None:
            query = query.where(Client.sensitive == sensitive)
        if case_worker:
            query = query.where(Client.case_worker == case_worker)
        if vulnerability:
            query = query.where(col(Client.vulnerabilities).contains([vulnerability]))
        if after is not None:
            query = query.where(sa.tuple_(col(Client.created_at), col(Client.id)) > sa.tuple_(*after))
        query = query.order_by(col(Client.created_at), col(Client.id)).limit(limit)
        return list((await session.exec(query)).all())

    async def system_get(self, session: AsyncSession, table: type[Any], row_id: uuid.UUID) -> Any:
        """A timer's read of one row by id, locked; no caller, so no scope (system jobs only)."""
        return await session.get(table, row_id, with_for_update=True)

    async def add(self, session: AsyncSession, row: Any) -> Any:
        session.add(row)
        await session.flush()
        return row

    async def likely_duplicates(
        self,
        session: AsyncSession,
        *,
        agency_id: str,
        full_name: str,
        birth_year: int | None,
        sex: str | None,
        phone_key: str | None = None,
        document_keys: Sequence[str] = (),
        limit: int = 10,
    ) -> list[DuplicateMatch]:
        """Clients of the agency (not merged away, not anonymised) that are likely the same person:
        - the same identity document number (kind aside: numbers get re-typed under other kinds), or
        - a compatible birth year (same, +-1, or unknown) and sex (same or unknown), and either a
          similar name (trigram similarity >= NAME_THRESHOLD) or the same phone number.
        One static statement (compiled and prepared once); see DUPLICATES_SQL."""
        rows = (
            await session.exec(  # type: ignore[call-overload]
                DUPLICATES,
                params={
                    "agency": agency_id,
                    "name": full_name,
                    "threshold": NAME_THRESHOLD,
                    "year": birth_year,
                    "sex": None if sex == "unknown" else sex,
                    "phone": phone_key,
                    "docs": list(document_keys),
                    "limit": limit,
                },
            )
        ).all()
        matches = []
        for row in rows:
            score = round(float(row.score), 3)
            reasons = (
                ("identity_document", row.document),
                ("phone", row.phone),
                ("name", score >= NAME_THRESHOLD),
            )
            matches.append(DuplicateMatch(row.id, score, [reason for reason, hit in reasons if hit]))
        return matches

    # -- consents (reached through a readable client) ------------------------------------------

    async def get_consent(
        self, session: AsyncSession, subject: AuthSubject, consent_id: uuid.UUID, *, for_update: bool = False
    ) -> Consent | None:
        query = (
            select(Consent)
            .join(Client, col(Client.id) == col(Consent.client_id))
            .where(Consent.id == consent_id, client_scope(subject))
        )
        if for_update:
            query = query.with_for_update(of=Consent)
        return (await session.exec(query)).first()

    async def consents(
        self,
        session: AsyncSession,
        client_id: uuid.UUID,
        *,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
        active_at: datetime | None = None,
    ) -> list[Consent]:
        query = select(Consent).where(Consent.client_id == client_id)
        if active_at is not None:
            query = query.where(*_in_force(active_at))
        if after is not None:
            query = query.where(sa.tuple_(col(Consent.created_at), col(Consent.id)) > sa.tuple_(*after))
        query = query.order_by(col(Consent.created_at), col(Consent.id)).limit(limit)
        return list((await session.exec(query)).all())

    async def consents_of_clients(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        client_ids: Sequence[uuid.UUID],
        *,
        active_at: datetime | None,
        per_client: int,
    ) -> list[tuple[uuid.UUID, int, list[Consent]]]:
        """The consents of many readable clients, each with its `consent_revision`, in ONE statement.

        Why one statement: PostgreSQL gives a statement one snapshot even at READ COMMITTED, so a
        revision and the consents next to it are always of the same committed state (a grant or
        withdrawal bumps the revision in its own transaction; a reader sees both or neither). This
        needs no transaction settings (a REPEATABLE READ would have to be the first statement of the
        request's transaction) and costs one round trip. A LATERAL subquery reads at most
        `per_client` consents of each client, in the per-client list's order, so the answer stays
        bounded whatever a client holds. Unreadable and unknown ids are simply not in the result."""
        ids = list(client_ids)
        if not ids:
            return []
        inner = select(Consent).where(col(Consent.client_id) == col(Client.id))
        if active_at is not None:
            inner = inner.where(*_in_force(active_at))
        lateral = (
            inner.order_by(col(Consent.created_at), col(Consent.id)).limit(per_client).subquery().lateral("k")
        )
        consent = aliased(Consent, lateral)
        query = (
            sa.select(col(Client.id), col(Client.consent_revision), consent)
            .select_from(Client)
            .outerjoin(lateral, sa.true())
            .where(col(Client.id).in_(ids), client_scope(subject))
            .order_by(col(Client.id), lateral.c.created_at, lateral.c.id)
        )
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        found: dict[uuid.UUID, tuple[int, list[Consent]]] = {}
        for client_id, revision, row in rows:
            _, held = found.setdefault(client_id, (int(revision), []))
            if row is not None:
                held.append(row)
        return [(i, *found[i]) for i in ids if i in found]

    async def bump_consent_revision(self, session: AsyncSession, client_ids: Sequence[uuid.UUID]) -> None:
        """The clients' consents changed in this transaction: `consent_revision + 1`, atomically in
        SQL (the row lock orders concurrent changes; no read-modify-write). Not `version`: the file
        did not change. A Client already loaded in the session takes the new value as committed
        state, so a later flush of that object never writes it back."""
        ids = list(dict.fromkeys(client_ids))
        if not ids:
            return
        query = (
            sa.update(CLIENTS)
            .where(CLIENTS.c.id.in_(ids))
            .values(consent_revision=CLIENTS.c.consent_revision + 1)
            .returning(CLIENTS.c.id, CLIENTS.c.consent_revision)
        )
        rows = (await session.exec(query)).all()
        mapper = sa.inspect(Client)
        for client_id, revision in rows:
            loaded = session.sync_session.identity_map.get(mapper.identity_key_from_primary_key((client_id,)))
            if loaded is not None:
                set_committed_value(loaded, "consent_revision", int(revision))

    async def consents_expiring(
        self, session: AsyncSession, now: datetime, limit: int = 200
    ) -> list[Consent]:
        """System job (no caller): active consents past their period end, not yet announced."""
        query = (
            select(Consent)
            .where(
                Consent.status == "active",
                col(Consent.expiry_announced).is_(False),
                col(Consent.period_end).is_not(None),
                col(Consent.period_end) <= now,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await session.exec(query)).all())

    # -- children of a client --------------------------------------------------------------------

    async def assessments(
        self,
        session: AsyncSession,
        client_id: uuid.UUID,
        *,
        kind: str | None,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[Assessment]:
        query = select(Assessment).where(Assessment.client_id == client_id)
        if kind:
            query = query.where(Assessment.kind == kind)
        if after is not None:
            query = query.where(
                sa.tuple_(col(Assessment.submitted_at), col(Assessment.id)) > sa.tuple_(*after)
            )
        query = query.order_by(col(Assessment.submitted_at), col(Assessment.id)).limit(limit)
        return list((await session.exec(query)).all())

    async def get_assessment(
        self, session: AsyncSession, subject: AuthSubject, assessment_id: uuid.UUID
    ) -> Assessment | None:
        query = (
            select(Assessment)
            .join(Client, col(Client.id) == col(Assessment.client_id))
            .where(Assessment.id == assessment_id, client_scope(subject))
        )
        return (await session.exec(query)).first()

    async def followups(
        self,
        session: AsyncSession,
        client_id: uuid.UUID,
        *,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[Followup]:
        query = select(Followup).where(Followup.client_id == client_id)
        if after is not None:
            query = query.where(sa.tuple_(col(Followup.created_at), col(Followup.id)) > sa.tuple_(*after))
        query = query.order_by(col(Followup.created_at), col(Followup.id)).limit(limit)
        return list((await session.exec(query)).all())

    async def plans(self, session: AsyncSession, client_id: uuid.UUID) -> list[CasePlan]:
        query = select(CasePlan).where(CasePlan.client_id == client_id).order_by(col(CasePlan.created_at))
        return list((await session.exec(query)).all())

    async def get_plan(
        self, session: AsyncSession, subject: AuthSubject, plan_id: uuid.UUID, *, for_update: bool = False
    ) -> CasePlan | None:
        query = (
            select(CasePlan)
            .join(Client, col(Client.id) == col(CasePlan.client_id))
            .where(CasePlan.id == plan_id, client_scope(subject))
        )
        if for_update:
            query = query.with_for_update(of=CasePlan)
        return (await session.exec(query)).first()

    async def reviews(self, session: AsyncSession, plan_ids: Sequence[uuid.UUID]) -> list[PlanReview]:
        if not plan_ids:
            return []
        query = (
            select(PlanReview)
            .where(col(PlanReview.plan_id).in_(list(plan_ids)))
            .order_by(col(PlanReview.reviewed_on), col(PlanReview.created_at))
        )
        return list((await session.exec(query)).all())

    async def get_household(
        self, session: AsyncSession, subject: AuthSubject, household_id: uuid.UUID
    ) -> Household | None:
        query = (
            select(Household)
            .join(Client, col(Client.id) == col(Household.head_client_id))
            .where(Household.id == household_id, client_scope(subject))
        )
        return (await session.exec(query)).first()

    async def household_of(self, session: AsyncSession, client_id: uuid.UUID) -> Household | None:
        member = select(HouseholdMember.household_id).where(HouseholdMember.client_id == client_id)
        query = select(Household).where(
            or_(Household.head_client_id == client_id, col(Household.id).in_(member))
        )
        return (await session.exec(query)).first()

    async def members(self, session: AsyncSession, household_id: uuid.UUID) -> list[HouseholdMember]:
        query = (
            select(HouseholdMember)
            .where(HouseholdMember.household_id == household_id)
            .order_by(col(HouseholdMember.added_at))
        )
        return list((await session.exec(query)).all())

    async def get_member(
        self, session: AsyncSession, household_id: uuid.UUID, client_id: uuid.UUID
    ) -> HouseholdMember | None:
        return await session.get(HouseholdMember, (household_id, client_id))

    async def remove_member(self, session: AsyncSession, member: HouseholdMember) -> None:
        await session.delete(member)
        await session.flush()

    async def move_children(self, session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
        """A merge: the duplicate's consents, assessments, plans and follow-ups now belong to `to_id`.
        Returns how many consents moved."""
        moved = 0
        for table in (Consent, Assessment, CasePlan, Followup):
            result = await session.exec(
                sa.update(table).where(col(table.client_id) == from_id).values(client_id=to_id)
            )
            if table is Consent:
                moved = int(result.rowcount)
        await session.exec(
            sa.update(Household).where(col(Household.head_client_id) == from_id).values(head_client_id=to_id)
        )
        await session.exec(
            sa.update(HouseholdMember)
            .where(col(HouseholdMember.client_id) == from_id)
            .values(client_id=to_id)
        )
        return moved

    # -- the change feed ---------------------------------------------------------------------------

    async def record_change(
        self,
        session: AsyncSession,
        *,
        agency_id: str,
        client_id: uuid.UUID,
        resource: str,
        resource_id: uuid.UUID,
        action: str,
        changed_by: str,
    ) -> None:
        """Append to the feed. No lock: the row carries its transaction's id (server default),
        and `changes` serves only rows of transactions that can no longer be running."""
        await session.exec(
            RECORD_CHANGE,
            params={
                "p_agency_id": agency_id,
                "p_client_id": client_id,
                "p_resource": resource,
                "p_resource_id": resource_id,
                "p_action": action,
                "p_changed_by": changed_by,
                "p_changed_at": datetime.now(UTC),
            },
        )

    async def changes(
        self, session: AsyncSession, subject: AuthSubject, *, since: tuple[int, int], limit: int
    ) -> list[Change]:
        """The feed after position `since` = (txid, seq), in (txid, seq) order.

        Why it never skips: transaction ids are handed out in increasing order, and every
        transaction older than the snapshot's xmin has ended. So only rows with txid < xmin are
        served; any row that commits later belongs to a transaction still running now, whose id
        is >= xmin and therefore sorts after everything served. Writers take no lock; a reader
        just sees a change once the transactions older than it have ended (milliseconds, unless
        something holds a transaction open)."""
        position = sa.tuple_(col(Change.txid), col(Change.seq))
        query = (
            select(Change)
            .join(Client, col(Client.id) == col(Change.client_id))
            .where(
                position > sa.tuple_(sa.literal(since[0]), sa.literal(since[1])),
                col(Change.txid) < SNAPSHOT_XMIN,
                client_scope(subject),
            )
            .order_by(col(Change.txid), col(Change.seq))
            .limit(limit)
        )
        if not subject.has_any_role({Role.SERVICE}):
            query = query.where(Change.agency_id == subject.agency)
        return list((await session.exec(query)).all())

    async def history(self, session: AsyncSession, client_id: uuid.UUID) -> list[Change]:
        query = select(Change).where(Change.client_id == client_id).order_by(col(Change.seq))
        return list((await session.exec(query)).all())

    # -- retention and statistics (system reads, no caller) ---------------------------------------

    async def due_for_anonymisation(
        self, session: AsyncSession, cutoff: datetime, limit: int
    ) -> list[Client]:
        query = (
            select(Client)
            .where(Client.status == "closed", col(Client.closed_at) <= cutoff)
            .order_by(col(Client.closed_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await session.exec(query)).all())

    async def scrub_children(self, session: AsyncSession, client_id: uuid.UUID) -> int:
        """Anonymisation: free text and non-code answers go; codes and dates stay for statistics.
        Returns how many consents were scrubbed."""
        await session.exec(sa.update(Followup).where(col(Followup.client_id) == client_id).values(notes=None))
        await session.exec(
            sa.update(Assessment).where(col(Assessment.client_id) == client_id).values(notes=None)
        )
        await session.exec(
            sa.update(Assessment)
            .where(col(Assessment.client_id) == client_id, col(Assessment.kind) != "rss")
            .values(answers={})
        )
        scrubbed = await session.exec(
            sa.update(Consent)
            .where(col(Consent.client_id) == client_id)
            .values(witness=None, grantor="anonymised")
        )
        plans = select(CasePlan.id).where(CasePlan.client_id == client_id)
        await session.exec(sa.update(PlanReview).where(col(PlanReview.plan_id).in_(plans)).values(notes=None))
        await session.exec(
            sa.update(CasePlan)
            .where(col(CasePlan.client_id) == client_id)
            .values(goals=[], planned_services=[])
        )
        return int(scrubbed.rowcount)

    async def statistics(
        self,
        session: AsyncSession,
        *,
        dimensions: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        this_year: int,
    ) -> list[dict[str, Any]]:
        age = this_year - col(Client.birth_year)
        expressions: dict[str, Any] = {
            "period": func.to_char(func.timezone("UTC", col(Client.created_at)), "YYYY-MM"),
            "area": func.coalesce(col(Client.area_admin1), "unknown"),
            "gender": func.coalesce(col(Client.gender), "unknown"),
            "age_band": sa.case(
                (col(Client.birth_year).is_(None), "unknown"),
                (age < 18, "0-17"),
                (age < 25, "18-24"),
                (age < 35, "25-34"),
                (age < 50, "35-49"),
                (age < 65, "50-64"),
                else_="65+",
            ),
        }
        source: Any = Client
        vulnerability = None
        if "vulnerability" in dimensions:
            vulnerability = (
                func.jsonb_array_elements_text(
                    func.coalesce(
                        func.nullif(col(Client.vulnerabilities), sa.text("'[]'::jsonb")),
                        sa.text("'[\"none\"]'::jsonb"),
                    )
                )
                .table_valued("value")
                .lateral("v")
            )
            expressions["vulnerability"] = vulnerability.c.value
            source = sa.join(Client, vulnerability, sa.true())
        columns = [expressions[d].label(d) for d in dimensions]
        query = sa.select(*columns, func.count(sa.distinct(col(Client.id))).label("count")).select_from(
            source
        )
        query = query.where(col(Client.merged_into).is_(None))
        if start is not None:
            query = query.where(col(Client.created_at) >= start)
        if end is not None:
            query = query.where(col(Client.created_at) < end)
        if columns:
            query = query.group_by(*[sa.literal_column(d) for d in dimensions]).order_by(
                *[sa.literal_column(d) for d in dimensions]
            )
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        return [dict(row._mapping) for row in rows]


repository = ClientRepository()
__all__ = ["SCHEMA", "ClientRepository", "client_scope", "repository"]
