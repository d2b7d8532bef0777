"""The policy decision point and what it reads: roles, agreements, consents (kernel)."""
