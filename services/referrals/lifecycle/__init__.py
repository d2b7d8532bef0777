"""Referrals from request to outcome: FHIR/Gravity Task statuses, SLAs, the consent cascade, KPIs."""
