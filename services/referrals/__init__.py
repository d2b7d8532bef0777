"""Referrals: the HSDS service directory, SOP data-sharing agreements, and the referral lifecycle."""
