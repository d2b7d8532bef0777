"""Data-sharing agreements between agencies: the SOPs, as versioned data."""
