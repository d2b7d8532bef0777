from __future__ import annotations

from fastapi import APIRouter

from passage.auth import CurrentSubject
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
