"""The HTTP contract, framework-free: every request and answer model of `/ot/v1` and of the stats
routes, and the error shape. The server validates with these models and `ot.client` speaks them,
so the two cannot drift. Imports no web framework, no database and none of the core's tables."""
