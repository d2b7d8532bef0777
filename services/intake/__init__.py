"""Intake: where a migrant's case lives (clients, and in time households, consents, assessments)."""
