"""Scoring's business logic: scores, triage, schedules, matching. It never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from passage.auth import AuthSubject
from passage.bus import PoisonEvent
from passage.contracts import rss
from passage.contracts.intake import AssessmentSubmitted, CasePlanChanged
from passage.contracts.scoring import (
    BandChange,
    BandChanged,
    Bands,
    FollowupDue,
    ScoreComputed,
    Scores,
    TriageChanged,
)
from passage.errors import NotFound, Unprocessable
from passage.timers import DueTimer
from services.scoring import calculator, followups
from services.scoring.events import FOLLOWUP_DUE, outbox, timers
from services.scoring.models import (
    BASELINE_WINDOW_DAYS,
    CasePlan,
    ClientRecord,
    ReintegrationScore,
    ScheduledAssessment,
    Triage,
)
from services.scoring.repository import (
    CasePlanRepository,
    ClientRepository,
    ScheduleRepository,
    ScoreRepository,
    TriageRepository,
)
from services.scoring.schemas import (
    ClientSchedule,
    ClientScores,
    DerivedIndicatorPublic,
    ExplanationLine,
    Instrument,
    InstrumentIndicator,
    InstrumentOption,
    RssScore,
    ScheduledAssessmentPublic,
    ScorePublic,
    TriagePublic,
)

DIMENSION_KEYS = ("economic", "social", "psychosocial", "composite")
# A plan in one of these no longer calls for follow-ups: its pending items are withdrawn.
ENDED_PLAN_STATUSES = frozenset({"completed", "closed", "cancelled", "abandoned"})

_clients = ClientRepository()


async def _client_in_scope(session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID) -> ClientRecord:
    client = await _clients.readable_client(session, subject, client_id)
    if client is None:
        # Not known, or another agency's: the same answer, so existence does not leak.
        raise NotFound("No client with this id is known to scoring for your agency")
    return client


class ClientService:
    """Which agency holds each client's file: the scope of scores and schedules."""

    async def remember(
        self, session: AsyncSession, *, client_id: uuid.UUID, agency_id: str, status: str | None = None
    ) -> None:
        await _clients.remember(session, client_id=client_id, agency_id=agency_id, status=status)


class RssService:
    """The instrument and the calculator as an API (no storage)."""

    def instrument(self) -> Instrument:
        return Instrument(
            version=rss.INSTRUMENT_VERSION,
            indicators=[
                InstrumentIndicator(
                    key=i.key,
                    dimension=i.dimension,
                    label=i.label,
                    options=[
                        InstrumentOption(code=o.code, points=float(o.points), label=o.label)
                        for o in i.options
                    ],
                    dimension_weight=float(i.dimension_weight),
                    composite_weight=float(i.composite_weight),
                    required=i.asked_when is None,
                    asked_when={i.asked_when[0]: i.asked_when[1]} if i.asked_when else None,
                )
                for i in rss.INDICATORS.values()
            ],
            derived=[
                DerivedIndicatorPublic(
                    key=d.key,
                    dimension=d.dimension,
                    label=d.label,
                    mean_of=list(d.mean_of),
                    dimension_weight=float(d.dimension_weight),
                    composite_weight=float(d.composite_weight),
                )
                for d in rss.DERIVED.values()
            ],
            thresholds={
                "intensified_below": float(rss.INTENSIFIED_BELOW),
                "light_above": float(rss.LIGHT_ABOVE),
            },
        )

    def score(self, answers: Mapping[str, str]) -> RssScore:
        try:
            result = calculator.score(answers)
        except calculator.InvalidAnswers as exc:
            keys = ", ".join(sorted({p.key for p in exc.problems})[:20])
            raise Unprocessable(
                f"The answer set cannot be scored: {keys}",
                errors=[
                    {"field": f"answers.{p.key}", "message": p.message, "code": p.code} for p in exc.problems
                ],
            ) from None
        return RssScore(
            scores=Scores(**result.scores),
            bands=Bands(**result.bands),
            dont_know_count=result.dont_know_count,
            low_accuracy=result.low_accuracy,
            # Trusted values from the calculator: constructed without validating them again.
            explanation=[
                ExplanationLine.model_construct(
                    key=i.key,
                    dimension=i.dimension,
                    answer=i.answer,
                    points=i.floats[0],
                    dimension_weight=i.floats[1],
                    composite_weight=i.floats[2],
                    dimension_contribution=i.floats[3],
                    composite_contribution=i.floats[4],
                    note=i.note,
                )
                for i in result.indicators
            ],
        )


class ScheduleService:
    """Triage, the case plan, and the dated items they call for, each armed as a durable timer."""

    def __init__(self) -> None:
        self._items = ScheduleRepository()
        self._triage = TriageRepository()
        self._plans = CasePlanRepository()

    async def plan_baseline(
        self, session: AsyncSession, *, client_id: uuid.UUID, agency_id: str, registered_on: date
    ) -> None:
        await _clients.remember(session, client_id=client_id, agency_id=agency_id)
        item = ScheduledAssessment(
            client_id=client_id,
            agency_id=agency_id,
            instrument="rss",
            round="baseline",
            kind="rss",
            due_on=registered_on + timedelta(days=BASELINE_WINDOW_DAYS),
        )
        await self._items.schedule(session, item)
        for existing in await self._items.items(session, client_id):
            if existing.round == "baseline" and existing.status == "pending":
                await self._arm(session, existing.id, existing.due_on)

    async def apply_triage(
        self,
        session: AsyncSession,
        *,
        client_id: uuid.UUID,
        agency_id: str,
        protection_flags: list[str] | None,
        assessment_id: uuid.UUID | None,
        composite_band: rss.Band | None,
    ) -> None:
        """Decide the intensity; on a change, tell (scoring.triage.changed) and recompute the schedule.

        `protection_flags` None keeps the flags of the last vulnerability assessment (a new score).
        """
        current = await self._triage.get(session, client_id)
        flags = (
            protection_flags
            if protection_flags is not None
            else (current.protection_flags if current else [])
        )
        decision = followups.triage(flags, composite_band)
        if current is not None and (current.intensity, current.rule) == (decision.intensity, decision.rule):
            if protection_flags is not None and sorted(current.protection_flags) != sorted(flags):
                current.protection_flags = sorted(flags)
                await self._triage.save(session, current)
            return
        await self._triage.save(
            session,
            Triage(
                client_id=client_id,
                agency_id=agency_id,
                intensity=decision.intensity,
                rule=decision.rule,
                protection_flags=sorted(flags),
                assessment_id=assessment_id or (current.assessment_id if current else None),
            ),
        )
        await outbox.add(
            session,
            TriageChanged(
                client_id=client_id,
                agency_id=agency_id,
                intensity=decision.intensity,
                previous_intensity=current.intensity if current else None,
                rule=decision.rule,
            ),
            subject=f"client/{client_id}",
        )
        await self.recompute(session, client_id)

    async def plan_changed(self, session: AsyncSession, data: CasePlanChanged) -> None:
        await _clients.remember(session, client_id=data.client_id, agency_id=data.agency_id)
        await self._plans.save(
            session,
            CasePlan(
                client_id=data.client_id,
                plan_id=data.plan_id,
                agency_id=data.agency_id,
                status=data.status,
                start_date=data.start_date,
                case_worker=data.case_worker,
                assistance_extended=data.assistance_extended,
                updated_at=datetime.now(UTC),
            ),
        )
        await self.recompute(session, data.client_id)

    async def recompute(self, session: AsyncSession, client_id: uuid.UUID) -> None:
        """Bring the plan-derived items in line with the plan and the triage (idempotent)."""
        plan = await self._plans.get(session, client_id)
        triage = await self._triage.get(session, client_id)
        wanted: dict[tuple[str, str], followups.PlannedItem] = {}
        if plan is not None and plan.start_date is not None and plan.status not in ENDED_PLAN_STATUSES:
            for planned in followups.plan(
                intensity=triage.intensity if triage else "standard",  # type: ignore[arg-type]
                trafficking=bool(triage and followups.TRAFFICKING in triage.protection_flags),
                assistance_extended=plan.assistance_extended,
            ):
                wanted[(planned.instrument, planned.round)] = planned
        for existing in await self._items.items(session, client_id):
            withdrawn = (existing.instrument, existing.round) not in wanted
            if existing.month is not None and existing.status == "pending" and withdrawn:
                await self._items.remove(session, existing.id)
                await timers.cancel(session, kind=FOLLOWUP_DUE, key=str(existing.id))
        if plan is None or plan.start_date is None:
            return
        for planned in wanted.values():
            due = followups.due_on(plan.start_date, planned)
            item_id = await self._items.put(
                session,
                ScheduledAssessment(
                    client_id=client_id,
                    agency_id=plan.agency_id,
                    instrument=planned.instrument,
                    round=planned.round,
                    kind=planned.kind,
                    month=planned.month,
                    due_on=due,
                ),
            )
            if item_id is not None:
                await self._arm(session, item_id, due)

    async def _arm(self, session: AsyncSession, item_id: uuid.UUID, due: date) -> None:
        due_at = datetime.combine(due, time(0, 0), tzinfo=UTC)
        await timers.schedule(session, kind=FOLLOWUP_DUE, key=str(item_id), due_at=due_at)

    async def fall_due(self, session: AsyncSession, timer: DueTimer) -> None:
        """A timer fired: the item is due, the case worker is told (scoring.followup.due)."""
        item = await self._items.get(session, uuid.UUID(timer.key))
        if item is None or item.status != "pending":
            return  # withdrawn or already held: nothing is due
        await self._items.set_status(session, item.id, "due", fell_due=True)
        plan = await self._plans.get(session, item.client_id)
        await outbox.add(
            session,
            FollowupDue(
                item_id=item.id,
                client_id=item.client_id,
                agency_id=item.agency_id,
                kind=item.kind,
                due_on=item.due_on,
                case_worker=plan.case_worker if plan else None,
            ),
            subject=f"client/{item.client_id}",
        )

    async def rss_held(self, session: AsyncSession, client_id: uuid.UUID, on: date) -> None:
        """An RSS was taken: the baseline, or the RSS round nearest to that day, is done."""
        open_rounds = [
            i
            for i in await self._items.items(session, client_id)
            if i.instrument == "rss" and i.status in ("pending", "due")
        ]
        baseline = [i for i in open_rounds if i.round == "baseline"]
        nearby = sorted(
            (i for i in open_rounds if i.round != "baseline" and abs((i.due_on - on).days) <= 45),
            key=lambda i: abs((i.due_on - on).days),
        )
        for item in (baseline or nearby)[:1]:
            await self._items.set_status(session, item.id, "done")
            await timers.cancel(session, kind=FOLLOWUP_DUE, key=str(item.id))

    async def client_closed(self, session: AsyncSession, client_id: uuid.UUID) -> None:
        for item in await self._items.items(session, client_id):
            if item.status == "pending":
                await self._items.set_status(session, item.id, "cancelled")
                await timers.cancel(session, kind=FOLLOWUP_DUE, key=str(item.id))

    async def for_client(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> ClientSchedule:
        client = await _client_in_scope(session, subject, client_id)
        triage = await self._triage.get(session, client_id)
        plan = await self._plans.get(session, client_id)
        return ClientSchedule(
            client_id=client_id,
            triage=TriagePublic(intensity=triage.intensity, rule=triage.rule, decided_at=triage.decided_at)
            if triage
            else None,
            plan_start=plan.start_date if plan else None,
            items=[
                ScheduledAssessmentPublic.model_validate(i, from_attributes=True)
                for i in await self._items.for_client(session, client)
            ],
        )


class ScoreService:
    """RSS administrations over time."""

    def __init__(self, schedules: ScheduleService) -> None:
        self._scores = ScoreRepository()
        self._schedules = schedules

    async def assessment_submitted(self, session: AsyncSession, data: AssessmentSubmitted) -> None:
        await _clients.remember(session, client_id=data.client_id, agency_id=data.agency_id)
        if data.kind == "vulnerability":
            latest = await self._scores.latest(session, data.client_id)
            await self._schedules.apply_triage(
                session,
                client_id=data.client_id,
                agency_id=data.agency_id,
                protection_flags=list(data.protection_flags),
                assessment_id=data.assessment_id,
                composite_band=latest.composite_band if latest else None,  # type: ignore[arg-type]
            )
        elif data.kind == "rss":
            await self._record_rss(session, data)

    async def _record_rss(self, session: AsyncSession, data: AssessmentSubmitted) -> None:
        try:
            result = calculator.score(data.answers or {})
        except calculator.InvalidAnswers as exc:
            raise PoisonEvent(
                f"RSS answers of assessment {data.assessment_id} cannot be scored: {exc}"
            ) from None
        scores, bands = result.scores, result.bands
        score = ReintegrationScore.model_validate(
            {
                "client_id": data.client_id,
                "agency_id": data.agency_id,
                "assessment_id": data.assessment_id,
                "instrument_version": data.instrument_version or rss.INSTRUMENT_VERSION,
                **scores,
                **{f"{k}_band": v for k, v in bands.items()},
                "dont_know_count": result.dont_know_count,
                "low_accuracy": result.low_accuracy,
                "assessed_at": data.submitted_at,
            }
        )
        if not await self._scores.add(session, score):
            return  # this assessment was scored already
        subject = f"client/{data.client_id}"
        await outbox.add(
            session,
            ScoreComputed(
                score_id=score.id,
                client_id=data.client_id,
                agency_id=data.agency_id,
                assessment_id=data.assessment_id,
                instrument_version=score.instrument_version,
                scores=Scores(**scores),
                bands=Bands(**bands),
                low_accuracy=result.low_accuracy,
            ),
            subject=subject,
        )
        previous = await self._scores.previous(session, score)
        if previous is not None:
            changes = [
                BandChange(dimension=k, previous=getattr(previous, f"{k}_band"), current=bands[k])
                for k in DIMENSION_KEYS
                if getattr(previous, f"{k}_band") != bands[k]
            ]
            if changes:
                await outbox.add(
                    session,
                    BandChanged(
                        client_id=data.client_id,
                        agency_id=data.agency_id,
                        score_id=score.id,
                        previous_score_id=previous.id,
                        changes=changes,
                    ),
                    subject=subject,
                )
        await self._schedules.rss_held(session, data.client_id, data.submitted_at.date())
        latest = await self._scores.latest(session, data.client_id)
        await self._schedules.apply_triage(
            session,
            client_id=data.client_id,
            agency_id=data.agency_id,
            protection_flags=None,
            assessment_id=None,
            composite_band=latest.composite_band if latest else None,  # type: ignore[arg-type]
        )

    async def history(
        self, session: AsyncSession, subject: AuthSubject, client_id: uuid.UUID
    ) -> ClientScores:
        client = await _client_in_scope(session, subject, client_id)
        return ClientScores(
            client_id=client_id,
            items=[
                ScorePublic(
                    id=s.id,
                    assessment_id=s.assessment_id,
                    instrument_version=s.instrument_version,
                    scores=Scores(**{k: getattr(s, k) for k in DIMENSION_KEYS}),
                    bands=Bands(**{k: getattr(s, f"{k}_band") for k in DIMENSION_KEYS}),
                    dont_know_count=s.dont_know_count,
                    low_accuracy=s.low_accuracy,
                    assessed_at=s.assessed_at,
                )
                for s in await self._scores.history(session, client)
            ],
        )


clients = ClientService()
rss_service = RssService()
schedule_service = ScheduleService()
score_service = ScoreService(schedule_service)
