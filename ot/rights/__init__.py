"""Customers' rights over their data: export, erasure, account deletion, retention and the
housekeeping that enforces them."""
