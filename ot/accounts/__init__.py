"""Accounts: registration, log-in, sessions, passwords, second factor, profile, e-mail verification,
team, API keys and what each role may do."""
