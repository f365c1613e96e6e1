"""The stats engine: one query model (Plausible's Stats API v2), validated once and answered by
`ot.stats.engine.run_query` for the HTTP API, the TUI and `ot-admin` alike."""
