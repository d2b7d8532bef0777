"""Scoring: reintegration scores, triage and follow-up schedules."""
