"""opentracker: privacy-first web analytics. This package is the core; front doors live in
`ot.server` (HTTP), `ot.admin` (operators' commands) and `ot.tui` (the customer's terminal)."""

__version__ = "0.1.0"
