"""Demo data for `passage dev --demo`, seeded through the services' own APIs so it obeys their rules.

Two agencies (demo-agency, a migrant resource centre; harbour-aid, a psychosocial partner), a few
clients of each, a small HSDS directory, a signed data-sharing agreement between the two, one
client's written consent to be referred to harbour-aid, and that referral, waiting for an answer.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from passage.devkeys import mint_token

DEMO_AGENCIES = ("demo-agency", "harbour-aid")
_DEMO_CLIENTS: dict[str, list[dict[str, Any]]] = {
    "demo-agency": [
        {
            "given_name": "Amina",
            "family_name": "Diallo",
            "birth_year": 1994,
            "sex": "female",
            "gender": "woman",
            "nationality": "SN",
            "preferred_language": "fr",
            "preferred_contact_channel": "sms",
            "phone": "+221770000001",
            "migration_phase": "returnee",
        },
        {"given_name": "Yusuf", "family_name": "Haddad", "birth_year": 1988, "sex": "male", "gender": "man"},
        {
            "given_name": "Grace",
            "family_name": "Okafor",
            "birth_year": 2001,
            "sex": "female",
            "gender": "woman",
        },
    ],
    "harbour-aid": [
        {
            "given_name": "Tesfaye",
            "family_name": "Bekele",
            "birth_year": 1979,
            "sex": "male",
            "gender": "man",
        },
        {
            "given_name": "Mariam",
            "family_name": "Sow",
            "birth_year": 1999,
            "sex": "female",
            "gender": "woman",
        },
    ],
}
_MARKER = "demo-seed.json"
# Fixed ids, so a demo directory is the same in every data folder.
_NS = uuid.UUID("6f1c9a52-3b7e-4c1d-9a0e-5d2f7b8c4e10")


def _id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def demo_directory() -> dict[str, Any]:
    """An HSDS 3.0 dataset: harbour-aid's counselling service and peer-mentoring programme."""
    taxonomy = _id("taxonomy")
    return {
        "taxonomies": [{"id": taxonomy, "name": "Passage demo services"}],
        "taxonomy_terms": [
            {
                "id": _id("term:psychosocial"),
                "code": "psychosocial",
                "name": "Psychosocial support",
                "taxonomy_id": taxonomy,
            },
            {
                "id": _id("term:mentoring"),
                "code": "mentoring",
                "name": "Peer mentoring",
                "taxonomy_id": taxonomy,
                "parent_id": _id("term:psychosocial"),
            },
        ],
        "organizations": [
            {
                "id": _id("org:harbour-aid"),
                "name": "Harbour Aid",
                "description": "Psychosocial support for returnees",
                "agency_id": "harbour-aid",
            },
        ],
        "locations": [
            {
                "id": _id("loc:pikine"),
                "organization_id": _id("org:harbour-aid"),
                "name": "Pikine centre",
                "location_type": "physical",
                "addresses": [{"address_1": "Rue 10", "city": "Pikine", "country": "SN"}],
            },
        ],
        "services": [
            {
                "id": _id("svc:counselling"),
                "organization_id": _id("org:harbour-aid"),
                "name": "Individual counselling",
                "description": "Psychological counselling for returnees, in French and Wolof",
                "status": "active",
                "referral_type": "psychological_counselling",
                "minimum_age": 18,
                "languages": [{"code": "fr"}, {"code": "wo", "name": "Wolof"}],
                "service_areas": [{"name": "Dakar", "code": "SN-DK"}],
                "attributes": [{"taxonomy_term_id": _id("term:psychosocial")}],
                "capacity": {"open_slots": 4, "waiting_time_days": 7},
                "service_at_locations": [{"id": _id("sal:counselling"), "location_id": _id("loc:pikine")}],
            },
            {
                "id": _id("svc:mentoring"),
                "organization_id": _id("org:harbour-aid"),
                "name": "Peer mentoring for returnees",
                "status": "active",
                "referral_type": "mentoring",
                "languages": [{"code": "fr"}, {"code": "ar"}],
                "service_areas": [{"name": "Dakar", "code": "SN-DK"}],
                "attributes": [{"taxonomy_term_id": _id("term:mentoring")}],
                "mentors": [
                    {
                        "id": _id("mentor:1"),
                        "languages": ["fr", "wo"],
                        "origin": "SN",
                        "gender": "woman",
                        "area": "Dakar",
                        "active_mentees": 1,
                        "max_mentees": 3,
                    },
                    {
                        "id": _id("mentor:2"),
                        "languages": ["ar", "fr"],
                        "origin": "SD",
                        "gender": "man",
                        "area": "Dakar",
                        "active_mentees": 0,
                        "max_mentees": 2,
                    },
                ],
            },
        ],
    }


def seed_demo(data_dir: Path, private_key: Path, *, urls: dict[str, str]) -> dict[str, Any]:
    """Seed once per data folder; later runs return what the first one made."""
    marker = data_dir / _MARKER
    if marker.exists():
        seeded: dict[str, Any] = json.loads(marker.read_text())
        return seeded

    def bearer(agency: str, *roles: str) -> dict[str, str]:
        token = mint_token(private_key, agency=agency, roles=roles, sub=f"{agency}-demo-{roles[0]}")
        return {"Authorization": f"Bearer {token}"}

    with httpx.Client(timeout=15) as http:
        clients = _seed_clients(http, urls["intake"], bearer)
        http.post(
            f"{urls['referrals']}/v1/hsds/import",
            json=demo_directory(),
            headers=bearer("coordination-committee", "coordinator"),
        ).raise_for_status()
        agreement = _seed_agreement(http, urls["referrals"], bearer)
        amina = clients["demo-agency"][0]
        consent = _post(
            http,
            f"{urls['intake']}/v1/clients/{amina}/consents",
            {
                "grantor": "client",
                "grantee_agency_id": "harbour-aid",
                "purposes": ["referral", "follow_up"],
                "categories": ["identity", "contact", "demographics", "needs", "psychosocial"],
                "decision": "permit",
                "obtained_by": "written",
                "language": "fr",
            },
            bearer("demo-agency", "case_worker"),
        )
        referral = _post(
            http,
            f"{urls['referrals']}/v1/referrals",
            {
                "client_id": amina,
                "service_id": _id("svc:counselling"),
                "receiving_agency_id": "harbour-aid",
                "purpose": "referral",
                "reasons": "Asks for support after a difficult return; sleeps badly since arriving.",
                "urgency": "routine",
                "consent_id": consent["id"],
            },
            bearer("demo-agency", "case_worker"),
        )
    seeded = {
        "agencies": list(DEMO_AGENCIES),
        "clients": clients,
        "agreement_id": agreement["id"],
        "consent_id": consent["id"],
        "referral_id": referral["id"],
        "services": [_id("svc:counselling"), _id("svc:mentoring")],
    }
    marker.write_text(json.dumps(seeded, indent=2) + "\n")
    return seeded


def _post(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = http.post(url, json=body, headers=headers)
    if response.is_error:
        raise RuntimeError(f"demo seeding: POST {url} answered {response.status_code}: {response.text[:500]}")
    result: dict[str, Any] = response.json()
    return result


def _seed_clients(http: httpx.Client, intake: str, bearer: Any) -> dict[str, list[str]]:
    clients: dict[str, list[str]] = {}
    for agency, people in _DEMO_CLIENTS.items():
        clients[agency] = [
            _post(http, f"{intake}/v1/clients", person, bearer(agency, "case_worker"))["id"]
            for person in people
        ]
    return clients


def _seed_agreement(http: httpx.Client, referrals: str, bearer: Any) -> dict[str, Any]:
    """demo-agency may refer to harbour-aid, and harbour-aid may refer back (the SOP, signed by both)."""
    now = datetime.now(UTC)
    direction = {
        "categories": ["identity", "contact", "demographics", "needs", "psychosocial"],
        "purposes": ["referral", "follow_up"],
        "referral_types": ["any"],
        "sla_hours": 48,
        "who_may_refer": ["case_worker", "supervisor"],
    }
    proposed = _post(
        http,
        f"{referrals}/v1/agreements",
        {
            "parties": ["demo-agency", "harbour-aid"],
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_to": (now + timedelta(days=365)).isoformat(),
            "directions": [
                {"from_agency": "demo-agency", "to_agency": "harbour-aid", **direction},
                {"from_agency": "harbour-aid", "to_agency": "demo-agency", **direction},
            ],
            "on_consent_withdrawn": "on_hold",
        },
        bearer("demo-agency", "agency_admin"),
    )
    return _post(
        http, f"{referrals}/v1/agreements/{proposed['id']}/sign", {}, bearer("harbour-aid", "agency_admin")
    )
