"""Case work on an open file: assessments, households, the case plan and its reviews, follow-ups."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.concurrency import check_if_match
from passage.contracts import rss
from passage.errors import Conflict, NotFound, Unprocessable
from passage.pagination import encode_cursor
from services.intake.events import AssessmentSubmitted, CasePlanChanged, FollowupRecorded, outbox
from services.intake.models import Assessment, CasePlan, Followup, Household, HouseholdMember, PlanReview
from services.intake.schemas_casework import (
    ANSWER_MODELS,
    VULNERABILITY_CODES,
    AssessmentCreate,
    AssessmentPublic,
    CasePlanCreate,
    CasePlanPublic,
    CasePlanUpdate,
    FollowupCreate,
    FollowupPublic,
    HouseholdCreate,
    HouseholdPublic,
    MemberIn,
    MemberPublic,
    ReviewCreate,
    ReviewPublic,
)
from services.intake.service import ClientService, client_service, now, page_after


def _answers_problem(errors: list[dict[str, Any]]) -> Unprocessable:
    fields = ", ".join(e["field"] for e in errors[:5])
    return Unprocessable(f"Some answers are not valid: {fields}", errors=errors)


def validate_answers(kind: str, answers: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The answer set as stored, and the protection flags it raises."""
    if kind == "rss":
        not_codes = [k for k, v in answers.items() if not isinstance(v, str)]
        if not_codes:
            raise _answers_problem(
                [
                    {"field": f"body.answers.{k}", "message": "must be an option code", "code": "type"}
                    for k in not_codes
                ]
            )
        problems = rss.validate_answers(answers)
        if problems:
            raise _answers_problem(
                [{"field": f"body.answers.{p.key}", "message": p.message, "code": p.code} for p in problems]
            )
        return dict(answers), []
    model = ANSWER_MODELS[kind]
    try:
        parsed = model.model_validate(answers)
    except ValidationError as exc:
        raise _answers_problem(
            [
                {
                    "field": "body.answers." + ".".join(str(p) for p in err["loc"]),
                    "message": err["msg"],
                    "code": err["type"],
                }
                for err in exc.errors()
            ]
        ) from None
    stored = parsed.model_dump(mode="json", exclude_none=True)
    flags = (
        sorted(k for k, v in stored.items() if v is True and k in VULNERABILITY_CODES)
        if kind == "vulnerability"
        else []
    )
    return stored, flags


def present_plan(plan: CasePlan, reviews: list[PlanReview]) -> CasePlanPublic:
    return CasePlanPublic.model_validate(
        {
            **plan.model_dump(),
            "reviews": [ReviewPublic.model_validate(r, from_attributes=True) for r in reviews],
        }
    )


class CaseworkService:
    def __init__(self, clients: ClientService) -> None:
        self.clients = clients
        self.repo = clients.repo

    # -- assessments -----------------------------------------------------------------------------

    async def submit_assessment(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: AssessmentCreate
    ) -> AssessmentPublic:
        client = await self.clients.get_open(session, subject, client_id)
        answers, flags = validate_answers(data.kind, data.answers)
        version = data.instrument_version or (
            rss.INSTRUMENT_VERSION if data.kind == "rss" else "passage-2026"
        )
        assessment = Assessment(
            client_id=client.id,
            agency_id=client.agency_id,
            kind=data.kind,
            instrument_version=version,
            answers=answers,
            protection_flags=flags,
            conducted_on=data.conducted_on,
            notes=data.notes,
            submitted_by=subject.sub,
        )
        await self.repo.add(session, assessment)
        await outbox.add(
            session,
            AssessmentSubmitted(
                assessment_id=assessment.id,
                client_id=client.id,
                agency_id=client.agency_id,
                kind=data.kind,
                instrument_version=version,
                submitted_by=subject.sub,
                submitted_at=assessment.submitted_at,
                answers=answers if data.kind == "rss" else None,
                protection_flags=flags,
            ),
            subject=f"client/{client.id}",
        )
        await self.clients.change(session, client, subject.sub, "submitted", "assessment", assessment.id)
        new_flags = [f for f in flags if f not in client.vulnerabilities]
        if new_flags:
            # What the assessment found joins the file (and may make the case sensitive).
            await self.clients.add_vulnerabilities(session, subject, client, new_flags)
        return AssessmentPublic.model_validate(assessment, from_attributes=True)

    async def assessments(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        client_id: uuid.UUID,
        *,
        kind: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[AssessmentPublic], str | None]:
        client = await self.clients.get(session, subject, client_id)
        rows = await self.repo.assessments(
            session, client.id, kind=kind, limit=limit + 1, after=page_after(cursor)
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].submitted_at, rows[-1].id) if more and rows else None
        return [AssessmentPublic.model_validate(a, from_attributes=True) for a in rows], next_cursor

    async def assessment(
        self, session: AsyncSession, subject: AuthSubject, assessment_id: uuid.UUID
    ) -> AssessmentPublic:
        found = await self.repo.get_assessment(session, subject, assessment_id)
        if found is None:
            raise NotFound(f"No assessment {assessment_id} that you may see")
        return AssessmentPublic.model_validate(found, from_attributes=True)

    # -- households ------------------------------------------------------------------------------

    async def create_household(
        self, session: AsyncSession, subject: AuthSubject, data: HouseholdCreate
    ) -> HouseholdPublic:
        head = await self.clients.get_open(session, subject, data.head_client_id)
        if await self.repo.household_of(session, head.id) is not None:
            raise Conflict("This client already belongs to a household; add members to it instead")
        household = Household(agency_id=head.agency_id, head_client_id=head.id, created_by=subject.sub)
        await self.repo.add(session, household)
        for member in data.members:
            await self._add_member(session, subject, household, member)
        await self.clients.change(session, head, subject.sub, "household", "household", household.id)
        return await self._present_household(session, household)

    async def add_member(
        self, session: AsyncSession, subject: AuthSubject, household_id: uuid.UUID, member: MemberIn
    ) -> HouseholdPublic:
        household = await self._household(session, subject, household_id)
        await self._add_member(session, subject, household, member)
        head = await self.clients.get(session, subject, household.head_client_id)
        await self.clients.change(session, head, subject.sub, "household", "household", household.id)
        return await self._present_household(session, household)

    async def _add_member(
        self, session: AsyncSession, subject: AuthSubject, household: Household, member: MemberIn
    ) -> None:
        if member.client_id == household.head_client_id:
            raise Unprocessable(
                "The head of case is not listed as a member",
                errors=[{"field": "body.members.client_id", "message": "is the head", "code": "head"}],
            )
        client = await self.clients.get(session, subject, member.client_id)
        if client.agency_id != household.agency_id:
            raise Unprocessable("Members belong to the same agency as the head of case")
        if await self.repo.household_of(session, client.id) is not None:
            raise Conflict(f"Client {client.id} already belongs to a household")
        await self.repo.add(
            session,
            HouseholdMember(
                household_id=household.id,
                client_id=client.id,
                relationship=member.relationship,
                dependant=member.dependant,
            ),
        )

    async def household(
        self, session: AsyncSession, subject: AuthSubject, household_id: uuid.UUID
    ) -> HouseholdPublic:
        return await self._present_household(session, await self._household(session, subject, household_id))

    async def household_of(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> HouseholdPublic:
        client = await self.clients.get(session, subject, client_id)
        household = await self.repo.household_of(session, client.id)
        if household is None:
            raise NotFound("This client belongs to no household")
        return await self._present_household(session, household)

    async def _household(
        self, session: AsyncSession, subject: AuthSubject, household_id: uuid.UUID
    ) -> Household:
        household = await self.repo.get_household(session, subject, household_id)
        if household is None:
            raise NotFound(f"No household {household_id} that you may see")
        return household

    async def _present_household(self, session: AsyncSession, household: Household) -> HouseholdPublic:
        members = await self.repo.members(session, household.id)
        return HouseholdPublic(
            id=household.id,
            agency_id=household.agency_id,
            head_client_id=household.head_client_id,
            members=[
                MemberPublic(client_id=m.client_id, relationship=m.relationship, dependant=m.dependant)
                for m in members
            ],
            created_at=household.created_at,
        )

    # -- case plans ------------------------------------------------------------------------------

    async def create_plan(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: CasePlanCreate
    ) -> CasePlanPublic:
        client = await self.clients.get_open(session, subject, client_id)
        plan = CasePlan(
            client_id=client.id,
            agency_id=client.agency_id,
            status=data.status,
            start_date=data.start_date,
            case_worker=data.case_worker or subject.sub,
            assistance_extended=data.assistance_extended,
            goals=[g.model_dump(mode="json") for g in data.goals],
            planned_services=[s.model_dump(mode="json") for s in data.planned_services],
            created_by=subject.sub,
        )
        await self.repo.add(session, plan)
        await self._plan_changed(session, subject, plan)
        return present_plan(plan, [])

    async def update_plan(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        plan_id: uuid.UUID,
        data: CasePlanUpdate,
        if_match: str | None,
    ) -> CasePlanPublic:
        plan = await self._plan(session, subject, plan_id, for_update=True)
        check_if_match(if_match, plan.version)
        changes = data.model_dump(mode="json", exclude_unset=True)
        for key in ("status", "case_worker", "assistance_extended"):
            if key in changes and changes[key] is None:
                raise Unprocessable(
                    f"{key} cannot be cleared",
                    errors=[{"field": f"body.{key}", "message": "null", "code": "required"}],
                )
        for key, value in changes.items():
            setattr(plan, key, date.fromisoformat(value) if key == "start_date" and value else value)
        plan.version += 1
        plan.updated_at = now()
        session.add(plan)
        await self._plan_changed(session, subject, plan)
        return present_plan(plan, await self.repo.reviews(session, [plan.id]))

    async def review_plan(
        self, session: AsyncSession, subject: AuthSubject, plan_id: uuid.UUID, data: ReviewCreate
    ) -> CasePlanPublic:
        plan = await self._plan(session, subject, plan_id, for_update=True)
        await self.repo.add(
            session,
            PlanReview(
                plan_id=plan.id,
                reviewed_on=data.reviewed_on,
                reviewed_by=subject.sub,
                outcome=data.outcome,
                notes=data.notes,
            ),
        )
        if data.outcome in ("completed", "discontinued"):
            plan.status = data.outcome
        elif plan.status in ("draft", "under_review"):
            plan.status = "active"
        plan.version += 1
        plan.updated_at = now()
        session.add(plan)
        await self._plan_changed(session, subject, plan)
        return present_plan(plan, await self.repo.reviews(session, [plan.id]))

    async def plans(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> list[CasePlanPublic]:
        client = await self.clients.get(session, subject, client_id)
        plans = await self.repo.plans(session, client.id)
        reviews = await self.repo.reviews(session, [p.id for p in plans])
        return [present_plan(p, [r for r in reviews if r.plan_id == p.id]) for p in plans]

    async def plan(self, session: AsyncSession, subject: AuthSubject, plan_id: uuid.UUID) -> CasePlanPublic:
        plan = await self._plan(session, subject, plan_id)
        return present_plan(plan, await self.repo.reviews(session, [plan.id]))

    async def _plan(
        self, session: AsyncSession, subject: AuthSubject, plan_id: uuid.UUID, *, for_update: bool = False
    ) -> CasePlan:
        plan = await self.repo.get_plan(session, subject, plan_id, for_update=for_update)
        if plan is None:
            raise NotFound(f"No case plan {plan_id} that you may see")
        return plan

    async def _plan_changed(self, session: AsyncSession, subject: AuthSubject, plan: CasePlan) -> None:
        client = await self.clients.get(session, subject, plan.client_id, for_update=True)
        if plan.case_worker and client.case_worker != plan.case_worker:
            client.case_worker = plan.case_worker  # the plan names the responsible case worker
            session.add(client)
        await outbox.add(
            session,
            CasePlanChanged(
                plan_id=plan.id,
                client_id=plan.client_id,
                agency_id=plan.agency_id,
                status=plan.status,
                start_date=plan.start_date,
                case_worker=plan.case_worker,
                assistance_extended=plan.assistance_extended,
            ),
            subject=f"client/{plan.client_id}",
        )
        await self.clients.change(session, client, subject.sub, "changed", "caseplan", plan.id)

    # -- follow-ups ------------------------------------------------------------------------------

    async def record_followup(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID, data: FollowupCreate
    ) -> FollowupPublic:
        client = await self.clients.get_open(session, subject, client_id)
        followup = Followup(
            client_id=client.id,
            agency_id=client.agency_id,
            held_on=data.held_on,
            channel=data.channel,
            points_seen=list(data.points_seen),
            notes=data.notes,
            recorded_by=subject.sub,
        )
        await self.repo.add(session, followup)
        await outbox.add(
            session,
            FollowupRecorded(
                followup_id=followup.id,
                client_id=client.id,
                agency_id=client.agency_id,
                held_on=data.held_on,
                channel=data.channel,
                points_seen=followup.points_seen,
                recorded_by=subject.sub,
            ),
            subject=f"client/{client.id}",
        )
        await self.clients.change(session, client, subject.sub, "recorded", "followup", followup.id)
        return FollowupPublic.model_validate(followup, from_attributes=True)

    async def followups(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        client_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[FollowupPublic], str | None]:
        client = await self.clients.get(session, subject, client_id)
        rows = await self.repo.followups(session, client.id, limit=limit + 1, after=page_after(cursor))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return [FollowupPublic.model_validate(f, from_attributes=True) for f in rows], next_cursor


casework_service = CaseworkService(client_service)
