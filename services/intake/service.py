"""Intake's business logic for clients and consents. It never commits: the request or consumer
boundary does. Case work (assessments, plans, follow-ups, households) is in `casework.py`;
retention, export and statistics in `records.py`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.concurrency import check_if_match
from passage.errors import Conflict, NotFound, Unprocessable
from passage.pagination import decode_cursor, encode_cursor
from services.intake.events import (
    ClientClosed,
    ClientMerged,
    ClientRegistered,
    ClientReopened,
    ClientUpdated,
    ConsentGranted,
    ConsentWithdrawn,
    DocumentExpiry,
    outbox,
)
from services.intake.models import Client, Consent
from services.intake.repository import ClientRepository, repository
from services.intake.schemas import (
    ClientCreate,
    ClientFields,
    ClientPublic,
    ClientUpdate,
    CloseRequest,
    DuplicateCandidate,
    MergeRequest,
    RegistrationResult,
    ReopenRequest,
    client_field_categories,
)
from services.intake.schemas_consent import (
    ClientConsents,
    ClientConsentsBatch,
    ConsentCreate,
    ConsentPublic,
    WithdrawRequest,
)
from services.intake.timing import (
    cancel_consent_expiry,
    cancel_retention,
    schedule_consent_expiry,
    schedule_retention,
)
from services.intake.vocab import SENSITIVE_VULNERABILITIES

CATEGORY_OF = client_field_categories()
MAX_BATCH = 100
# Consents per client in a batched read. A client holds a handful; more than this is refused (422)
# rather than cut: a cut list could drop a `deny` provision, and a deny wins over any permit.
MAX_CONSENTS_PER_CLIENT = 200


def now() -> datetime:
    return datetime.now(UTC)


def present(client: Client) -> ClientPublic:
    """The representation: metadata, then the personal fields from the profile."""
    fields = {k: v for k, v in client.profile.items() if k in ClientFields.model_fields}
    return ClientPublic.model_validate(
        {
            **fields,
            "id": client.id,
            "agency_id": client.agency_id,
            "status": client.status,
            "sensitive": client.sensitive,
            "sensitivity_reasons": client.sensitivity_reasons,
            "version": client.version,
            "consent_revision": client.consent_revision,
            "registered_by": client.registered_by,
            "case_worker": client.case_worker,
            "possible_duplicates": client.possible_duplicates,
            "merged_into": client.merged_into,
            "closure_reason": client.closure_reason,
            "closure_note": client.closure_note,
            "closed_at": client.closed_at,
            "created_at": client.created_at,
            "updated_at": client.updated_at,
        }
    )


def present_consent(consent: Consent, at: datetime | None = None) -> ConsentPublic:
    status = consent.status
    if status == "active" and consent.period_end is not None and consent.period_end <= (at or now()):
        status = "expired"
    return ConsentPublic.model_validate({**consent.model_dump(), "status": status}, from_attributes=False)


def apply_profile(client: Client, profile: dict[str, Any]) -> None:
    """Write the profile and the query columns derived from it, in one place."""
    client.profile = profile
    client.given_name = profile.get("given_name")
    client.family_name = profile.get("family_name")
    client.birth_year = profile.get("birth_year")
    client.sex = profile.get("sex")
    client.gender = profile.get("gender")
    area = profile.get("area") or {}
    client.area_admin1 = area.get("admin1")
    client.phone_key = phone_key(profile.get("phone"))
    client.document_keys = document_keys(profile.get("identity_documents"))
    vulnerabilities = list(profile.get("vulnerabilities") or [])
    client.vulnerabilities = vulnerabilities
    reasons = sorted(SENSITIVE_VULNERABILITIES.intersection(vulnerabilities))
    client.sensitive = bool(reasons)
    client.sensitivity_reasons = reasons


def phone_key(phone: str | None) -> str | None:
    """The number's last 9 digits: "+221 77 123 45 67" and "77 123 45 67" meet. Shorter numbers
    (fewer than 7 digits) are too ambiguous to match on."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-9:] if len(digits) >= 7 else None


def document_keys(documents: list[dict[str, Any]] | None) -> list[str]:
    """Document numbers without spaces, dashes or case ("ab-12 345" = "AB12345")."""
    keys = {
        "".join(ch for ch in str(doc.get("number") or "").upper() if ch.isalnum()) for doc in documents or []
    }
    return sorted(k for k in keys if len(k) >= 4)


def document_expiries(client: Client) -> list[DocumentExpiry]:
    return [
        DocumentExpiry(document_id=doc["id"], kind=doc["kind"], expires_on=doc["expires_on"])
        for doc in client.profile.get("identity_documents") or []
        if doc.get("expires_on")
    ]


def parse_ids(raw: str, parameter: str) -> list[uuid.UUID]:
    """A comma-separated list of at most MAX_BATCH UUIDs (query parameter `parameter`), duplicates
    dropped, order kept. Anything else is a 422 naming the parameter."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    field = f"query.{parameter}"
    if len(parts) > MAX_BATCH:
        raise Unprocessable(
            f"At most {MAX_BATCH} ids per call in `{parameter}`",
            errors=[{"field": field, "message": f"{len(parts)} ids", "code": "too_many"}],
        )
    try:
        return list(dict.fromkeys(uuid.UUID(p) for p in parts))
    except ValueError:
        raise Unprocessable(
            f"`{parameter}` must be a comma-separated list of UUIDs",
            errors=[{"field": field, "message": "not a UUID list", "code": "uuid_parsing"}],
        ) from None


def aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def page_after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    return decode_cursor(cursor) if cursor else None


class ClientService:
    def __init__(self, repo: ClientRepository) -> None:
        self.repo = repo

    async def change(
        self,
        session: AsyncSession,
        client: Client,
        by: str,
        action: str,
        resource: str = "client",
        resource_id: uuid.UUID | None = None,
    ) -> None:
        await self.repo.record_change(
            session,
            agency_id=client.agency_id,
            client_id=client.id,
            resource=resource,
            resource_id=resource_id or client.id,
            action=action,
            changed_by=by,
        )

    # -- clients -----------------------------------------------------------------------------------

    async def register(
        self, session: AsyncSession, subject: AuthSubject, data: ClientCreate
    ) -> RegistrationResult:
        client = Client(agency_id=subject.agency, registered_by=subject.sub, case_worker=subject.sub)
        apply_profile(client, data.model_dump(mode="json", exclude_none=True))
        duplicates = await self.repo.likely_duplicates(
            session,
            agency_id=subject.agency,
            full_name=f"{client.given_name or ''} {client.family_name or ''}",
            birth_year=client.birth_year,
            sex=client.sex,
            phone_key=client.phone_key,
            document_keys=client.document_keys,
        )
        client.possible_duplicates = [str(d.id) for d in duplicates]
        await self.repo.add(session, client)
        await outbox.add(
            session,
            ClientRegistered(
                client_id=client.id,
                agency_id=client.agency_id,
                registered_by=subject.sub,
                sensitive=client.sensitive,
                document_expiries=document_expiries(client),
            ),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, subject.sub, "registered")
        return RegistrationResult.model_validate(
            {
                **present(client).model_dump(),
                "duplicate_warning": [
                    DuplicateCandidate(id=d.id, similarity=d.similarity, matched_on=d.matched_on)
                    for d in duplicates
                ],
            }
        )

    async def get(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, *, for_update: bool = False
    ) -> Client:
        client = await self.repo.get(session, subject, client_id, for_update=for_update)
        if client is None:
            raise NotFound(f"No client {client_id} that you may see")
        return client

    async def get_open(self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> Client:
        client = await self.get(session, subject, client_id, for_update=True)
        if client.status != "open":
            raise Conflict(
                f"The client's file is {client.status}; reopen it first", file_status=client.status
            )
        return client

    async def read(self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> ClientPublic:
        return present(await self.get(session, subject, client_id))

    async def batch(self, session: AsyncSession, subject: AuthSubject, raw_ids: str) -> list[ClientPublic]:
        ids = parse_ids(raw_ids, "ids")
        found = {c.id: c for c in await self.repo.get_many(session, subject, ids)}
        return [present(found[i]) for i in ids if i in found]

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, cursor: str | None, **filters: Any
    ) -> tuple[list[ClientPublic], str | None]:
        rows = await self.repo.page(session, subject, limit=limit + 1, after=page_after(cursor), **filters)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return [present(c) for c in rows], next_cursor

    async def amend(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        client_id: uuid.UUID,
        data: ClientUpdate,
        if_match: str | None,
    ) -> ClientPublic:
        client = await self.get(session, subject, client_id, for_update=True)
        check_if_match(if_match, client.version)
        if client.status == "anonymised":
            raise Conflict("An anonymised file cannot be changed")
        changes = data.model_dump(mode="json", exclude_unset=True)
        profile = dict(client.profile)
        changed = {k for k, v in changes.items() if profile.get(k) != v}
        for key, value in changes.items():
            if value is None:
                profile.pop(key, None)
            else:
                profile[key] = value
        if "birth_date" in changes and changes["birth_date"] is None and "birth_year" not in changes:
            pass  # the year stays when only the exact date is removed
        try:
            ClientCreate.model_validate({k: v for k, v in profile.items() if k in ClientFields.model_fields})
        except ValueError as exc:
            raise Unprocessable(f"The update leaves the record invalid: {exc}") from None
        if not changed:
            return present(client)
        apply_profile(client, profile)
        client.version += 1
        client.updated_at = now()
        session.add(client)
        await outbox.add(
            session,
            ClientUpdated(
                client_id=client.id,
                agency_id=client.agency_id,
                updated_by=subject.sub,
                record_version=client.version,
                changed_categories=sorted({CATEGORY_OF[k] for k in changed}),
                sensitive=client.sensitive,
                document_expiries=document_expiries(client),
            ),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, subject.sub, "updated")
        return present(client)

    async def add_vulnerabilities(
        self, session: AsyncSession, subject: AuthSubject, client: Client, codes: list[str]
    ) -> None:
        profile = dict(client.profile)
        profile["vulnerabilities"] = [*profile.get("vulnerabilities", []), *codes]
        apply_profile(client, profile)
        client.version += 1
        client.updated_at = now()
        session.add(client)
        await outbox.add(
            session,
            ClientUpdated(
                client_id=client.id,
                agency_id=client.agency_id,
                updated_by=subject.sub,
                record_version=client.version,
                changed_categories=["protection"],
                sensitive=client.sensitive,
                document_expiries=document_expiries(client),
            ),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, subject.sub, "updated")

    async def close(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: CloseRequest
    ) -> ClientPublic:
        client = await self.get_open(session, subject, client_id)
        await self._close(session, client, subject.sub, data.reason, data.final_note)
        return present(client)

    async def _close(
        self, session: AsyncSession, client: Client, by: str, reason: str, note: str | None
    ) -> None:
        at = now()
        client.status, client.closure_reason, client.closure_note = "closed", reason, note
        client.closed_at, client.closed_by = at, by
        client.version += 1
        client.updated_at = at
        session.add(client)
        await outbox.add(
            session,
            ClientClosed(
                client_id=client.id,
                agency_id=client.agency_id,
                closure_reason=reason,
                closed_by=by,
                closed_at=at,
            ),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, by, "closed")
        await schedule_retention(session, client)

    async def reopen(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: ReopenRequest
    ) -> ClientPublic:
        client = await self.get(session, subject, client_id, for_update=True)
        if client.status != "closed":
            raise Conflict(f"Only a closed file can be reopened; this one is {client.status}")
        if client.merged_into is not None:
            raise Conflict(f"This record was merged into {client.merged_into}; work on that one")
        client.status, client.closure_reason, client.closed_at, client.closed_by = "open", None, None, None
        client.version += 1
        client.updated_at = now()
        session.add(client)
        await outbox.add(
            session,
            ClientReopened(client_id=client.id, agency_id=client.agency_id, reopened_by=subject.sub),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, subject.sub, "reopened")
        await cancel_retention(session, client)
        return present(client)

    async def dismiss_duplicates(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> ClientPublic:
        client = await self.get(session, subject, client_id, for_update=True)
        if client.possible_duplicates:
            client.possible_duplicates = []
            client.version += 1
            client.updated_at = now()
            session.add(client)
            await self.change(session, client, subject.sub, "confirmed_new")
        return present(client)

    async def merge(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: MergeRequest
    ) -> ClientPublic:
        if data.duplicate_id == client_id:
            raise Unprocessable(
                "A record cannot be merged into itself",
                errors=[{"field": "body.duplicate_id", "message": "same as the target", "code": "self"}],
            )
        target = await self.get(session, subject, client_id, for_update=True)
        duplicate = await self.get(session, subject, data.duplicate_id, for_update=True)
        if target.agency_id != duplicate.agency_id:
            raise Unprocessable("Only records of the same agency can be merged")
        for row in (target, duplicate):
            if row.status == "anonymised" or row.merged_into is not None:
                raise Conflict(f"Record {row.id} is {row.status} and cannot take part in a merge")
        # The kept record's values win; what it lacks comes from the duplicate; lists are joined.
        profile = dict(target.profile)
        for key, value in duplicate.profile.items():
            if key not in profile:
                profile[key] = value
            elif isinstance(value, list) and isinstance(profile[key], list):
                profile[key] = profile[key] + [v for v in value if v not in profile[key]]
        other = " ".join(filter(None, [duplicate.given_name, duplicate.family_name]))
        own = " ".join(filter(None, [target.given_name, target.family_name]))
        if other and other != own and other not in profile.get("other_names", []):
            profile["other_names"] = [*profile.get("other_names", []), other][:20]
        apply_profile(target, profile)
        target.possible_duplicates = [d for d in target.possible_duplicates if d != str(duplicate.id)]
        target.version += 1
        target.updated_at = now()
        session.add(target)
        if await self.repo.move_children(session, duplicate.id, target.id):
            await self.repo.bump_consent_revision(session, [target.id, duplicate.id])
        duplicate.merged_into = target.id
        duplicate.possible_duplicates = []
        if duplicate.status == "open":
            await self._close(session, duplicate, subject.sub, "duplicate_merged", None)
        else:
            duplicate.version += 1
            session.add(duplicate)
        await outbox.add(
            session,
            ClientMerged(
                client_id=target.id,
                merged_client_id=duplicate.id,
                agency_id=target.agency_id,
                merged_by=subject.sub,
            ),
            subject=f"client/{target.id}",
        )
        await self.change(session, target, subject.sub, "merged")
        return present(target)

    # -- consents -------------------------------------------------------------------------------------

    async def grant_consent(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: ConsentCreate
    ) -> ConsentPublic:
        client = await self.get_open(session, subject, client_id)
        consent = Consent(
            client_id=client.id,
            agency_id=client.agency_id,
            grantor=data.grantor,
            grantee_agency_id=data.grantee_agency_id,
            purposes=list(data.purposes),
            categories=list(data.categories),
            decision=data.decision,
            period_start=data.period_start or now(),
            period_end=data.period_end,
            obtained_by=data.obtained_by,
            language=data.language,
            witness=data.witness,
            recorded_by=subject.sub,
        )
        await self.repo.add(session, consent)
        await self.repo.bump_consent_revision(session, [client.id])
        await outbox.add(
            session,
            ConsentGranted(
                consent_id=consent.id,
                client_id=client.id,
                agency_id=client.agency_id,
                grantee_agency_id=consent.grantee_agency_id,
                decision=data.decision,
                purposes=consent.purposes,
                categories=consent.categories,
                period_start=consent.period_start,
                period_end=consent.period_end,
            ),
            subject=f"client/{client.id}",
        )
        await self.change(session, client, subject.sub, "granted", "consent", consent.id)
        await schedule_consent_expiry(session, consent)
        return present_consent(consent)

    async def consents(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        client_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
        active_at: datetime | None,
    ) -> tuple[list[ConsentPublic], str | None]:
        client = await self.get(session, subject, client_id)
        active_at = aware(active_at)
        rows = await self.repo.consents(
            session, client.id, limit=limit + 1, after=page_after(cursor), active_at=active_at
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return [present_consent(c, active_at) for c in rows], next_cursor

    async def consents_of_clients(
        self, session: AsyncSession, subject: AuthSubject, raw_ids: str, *, active_at: datetime | None
    ) -> ClientConsentsBatch:
        """Many clients' consents, each with its `consent_revision` from the same snapshot (one
        statement: see `repository.consents_of_clients`). Readable clients only; the others are
        left out without a word."""
        ids = parse_ids(raw_ids, "client_ids")
        active_at = aware(active_at)
        rows = await self.repo.consents_of_clients(
            session, subject, ids, active_at=active_at, per_client=MAX_CONSENTS_PER_CLIENT + 1
        )
        crowded = [str(i) for i, _, consents in rows if len(consents) > MAX_CONSENTS_PER_CLIENT]
        if crowded:
            raise Unprocessable(
                f"More than {MAX_CONSENTS_PER_CLIENT} consents for {len(crowded)} client(s); read them with "
                "GET /v1/clients/{id}/consents (cursor pages) and leave them out of `client_ids`",
                errors=[
                    {"field": "query.client_ids", "message": client_id, "code": "too_many_consents"}
                    for client_id in crowded
                ],
            )
        return ClientConsentsBatch(
            items=[
                ClientConsents(
                    client_id=client_id,
                    consent_revision=revision,
                    consents=[present_consent(c, active_at) for c in consents],
                )
                for client_id, revision, consents in rows
            ]
        )

    async def get_consent(
        self, session: AsyncSession, subject: AuthSubject, consent_id: uuid.UUID
    ) -> ConsentPublic:
        consent = await self.repo.get_consent(session, subject, consent_id)
        if consent is None:
            raise NotFound(f"No consent {consent_id} that you may see")
        return present_consent(consent)

    async def withdraw_consent(
        self, session: AsyncSession, subject: AuthSubject, consent_id: uuid.UUID, data: WithdrawRequest
    ) -> ConsentPublic:
        consent = await self.repo.get_consent(session, subject, consent_id, for_update=True)
        if consent is None:
            raise NotFound(f"No consent {consent_id} that you may see")
        if consent.status == "withdrawn":
            raise Conflict(f"Consent {consent_id} was already withdrawn at {consent.withdrawn_at}")
        at = now()
        consent.status, consent.withdrawn_at, consent.withdrawn_by = "withdrawn", at, subject.sub
        consent.withdrawal_reason = data.reason
        session.add(consent)
        await self.repo.bump_consent_revision(session, [consent.client_id])
        await outbox.add(
            session,
            ConsentWithdrawn(
                consent_id=consent.id,
                client_id=consent.client_id,
                agency_id=consent.agency_id,
                grantee_agency_id=consent.grantee_agency_id,
                withdrawn_by=subject.sub,
                withdrawn_at=at,
            ),
            subject=f"client/{consent.client_id}",
        )
        client = await self.get(session, subject, consent.client_id)
        await self.change(session, client, subject.sub, "withdrawn", "consent", consent.id)
        await cancel_consent_expiry(session, consent)
        return present_consent(consent)


client_service = ClientService(repository)
