"""Demo data for `passage dev --demo`: two agencies and a few clients, seeded through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from passage.devkeys import mint_token

DEMO_AGENCIES = ("demo-agency", "harbour-aid")
_DEMO_CLIENTS: dict[str, list[dict[str, Any]]] = {
    "demo-agency": [
        {"given_name": "Amina", "family_name": "Diallo", "birth_year": 1994, "sex": "female"},
        {"given_name": "Yusuf", "family_name": "Haddad", "birth_year": 1988, "sex": "male"},
        {"given_name": "Grace", "family_name": "Okafor", "birth_year": 2001, "sex": "female"},
    ],
    "harbour-aid": [
        {"given_name": "Tesfaye", "family_name": "Bekele", "birth_year": 1979, "sex": "male"},
        {"given_name": "Mariam", "family_name": "Sow", "birth_year": 1999, "sex": "female"},
    ],
}
_MARKER = "demo-seed.json"


def seed_demo(data_dir: Path, private_key: Path, *, intake_url: str) -> dict[str, Any]:
    """Seed once per data folder; later runs return what the first one made."""
    marker = data_dir / _MARKER
    if marker.exists():
        seeded: dict[str, Any] = json.loads(marker.read_text())
        return seeded
    clients: dict[str, list[str]] = {}
    with httpx.Client(base_url=intake_url, timeout=10) as http:
        for agency, people in _DEMO_CLIENTS.items():
            token = mint_token(private_key, agency=agency, roles=["case_worker"], sub=f"{agency}-seeder")
            clients[agency] = []
            for person in people:
                response = http.post("/v1/clients", json=person, headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
                clients[agency].append(response.json()["id"])
    seeded = {"agencies": list(DEMO_AGENCIES), "clients": clients}
    marker.write_text(json.dumps(seeded, indent=2) + "\n")
    return seeded
