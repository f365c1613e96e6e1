"""The operators' front door: `ot-admin`, acting on the database directly."""
