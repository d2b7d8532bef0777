"""Scoring's HTTP API: the RSS calculator, scores and schedules of clients, matching. No logic here."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from passage.auth import AuthSubject, CurrentSubject, Role, require_roles
from passage.db import SessionDep
from services.scoring.match_service import matching_service
from services.scoring.schemas import (
    ClientSchedule,
    ClientScores,
    Instrument,
    MentorMatches,
    MentorMatchRequest,
    RssAnswers,
    RssScore,
    ServiceMatches,
    ServiceMatchRequest,
)
from services.scoring.service import rss_service, schedule_service, score_service

ClientLevelRead = Annotated[
    AuthSubject,
    Depends(
        require_roles(Role.CASE_WORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.PARTNER_SYSTEM, Role.SERVICE)
    ),
]

_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "No valid bearer token"}}
_CLIENT: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    403: {"description": "Role not allowed"},
    404: {"description": "No such client for the caller's agency"},
    422: {"description": "The client id is not a UUID"},
}

rss_router = APIRouter(prefix="/v1/rss", tags=["rss"])
clients_router = APIRouter(prefix="/v1/clients", tags=["clients"])
match_router = APIRouter(prefix="/v1/match", tags=["matching"])


@rss_router.get(
    "/instrument",
    response_model=Instrument,
    summary="The Reintegration Sustainability Survey: indicators, options, points and weights",
    description="Keys are concept keys; access_public_services is derived and listed under `derived`. "
    "remigration_reason is asked only when need_to_remigrate is yes.",
    responses=_AUTH,
)
async def instrument(_: CurrentSubject) -> Instrument:
    return rss_service.instrument()


@rss_router.post(
    "/score",
    response_model=RssScore,
    summary="Score an RSS answer set exactly as IOM's reintegration scores calculator",
    description="Bands: intensified below 0.33, light above 0.66, standard otherwise (each dimension and "
    "the composite). Scores are not rounded. 422 names unknown keys, unknown options and missing answers.",
    responses={
        **_AUTH,
        422: {"description": "Unknown keys or options, or missing answers (named in errors)"},
    },
)
async def score(body: RssAnswers, _: CurrentSubject) -> RssScore:
    return rss_service.score(body.answers)


@clients_router.get(
    "/{client_id}/scores",
    response_model=ClientScores,
    summary="A client's reintegration scores over time (oldest first)",
    responses=_CLIENT,
)
async def client_scores(client_id: uuid.UUID, subject: ClientLevelRead, session: SessionDep) -> ClientScores:
    return await score_service.history(session, subject, client_id)


@clients_router.get(
    "/{client_id}/schedule",
    response_model=ClientSchedule,
    summary="A client's follow-up schedule: RSS rounds, follow-up meetings, monitoring points",
    responses=_CLIENT,
)
async def client_schedule(
    client_id: uuid.UUID, subject: ClientLevelRead, session: SessionDep
) -> ClientSchedule:
    return await schedule_service.for_client(session, subject, client_id)


@match_router.post(
    "/services",
    response_model=ServiceMatches,
    summary="Rank directory services for a client's needs by fit and capacity, with reasons",
    description="Send codes only (needs, language, area, gender, age, eligibility attributes), never names.",
    responses={**_AUTH, 422: {"description": "The request is not valid"}},
)
async def match_services(body: ServiceMatchRequest, _: CurrentSubject, session: SessionDep) -> ServiceMatches:
    return await matching_service.match_services(session, body)


@match_router.post(
    "/mentors",
    response_model=MentorMatches,
    summary="Rank peer mentors of mentoring programmes for a mentee, with reasons",
    description="Shared language, origin, gender preference, area and the mentor's load.",
    responses={**_AUTH, 422: {"description": "The request is not valid"}},
)
async def match_mentors(body: MentorMatchRequest, _: CurrentSubject, session: SessionDep) -> MentorMatches:
    return await matching_service.match_mentors(session, body)


routers = (rss_router, clients_router, match_router)
