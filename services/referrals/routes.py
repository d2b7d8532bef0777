"""Referrals' HTTP surface: the HSDS root here, the rest in each part's routes."""

from __future__ import annotations

from fastapi import APIRouter

from passage.auth import CurrentSubject
from services.referrals.agreements.routes import router as agreements_router
from services.referrals.directory.routes import router as directory_router
from services.referrals.lifecycle.routes import router as referrals_router
from services.referrals.models import HSDS_VERSION, HsdsRoot

router = APIRouter(prefix="/v1", tags=["directory"])


@router.get(
    "/hsds/",
    response_model=HsdsRoot,
    summary="The HSDS API root: version and profile of the service directory",
    responses={401: {"description": "No valid bearer token"}},
)
async def hsds_root(_: CurrentSubject) -> HsdsRoot:
    return HsdsRoot(version=HSDS_VERSION, profile="https://openreferral.org/", openapi_url="/openapi.json")


routers = (router, directory_router, agreements_router, referrals_router)
