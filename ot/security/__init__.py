"""Security: encryption of personal fields, the keys, their rotation, and the audit trail."""
