"""Every route of the server, in one place."""

from aiohttp import web

from ot.server import collect, openapi, ops, rights_api, sessions_api, stats_api


def setup_routes(app: web.Application) -> None:
    router = app.router
    # The collector: public, CORS-open (see middlewares.COLLECTOR_PATHS).
    router.add_post("/api/event", collect.plausible_event)
    router.add_get("/pixel.gif", collect.pixel_gif)
    for path in ("/matomo.php", "/piwik.php"):
        router.add_get(path, collect.matomo_tracking)
        router.add_post(path, collect.matomo_tracking)
    router.add_get("/js/ot.js", collect.tracker_script)
    # The Stats API (Plausible's v2 and v1): bearer token, same origin only.
    router.add_post("/api/v2/query", stats_api.query_v2)
    router.add_get("/api/v1/stats/aggregate", stats_api.aggregate_v1)
    router.add_get("/api/v1/stats/timeseries", stats_api.timeseries_v1)
    router.add_get("/api/v1/stats/breakdown", stats_api.breakdown_v1)
    router.add_get("/api/v1/stats/realtime/visitors", stats_api.realtime_v1)
    # Our own API: the caller's account.
    router.add_get("/ot/v1/sessions", sessions_api.list_my_sessions)
    router.add_delete("/ot/v1/sessions", sessions_api.end_all_sessions)
    router.add_delete("/ot/v1/sessions/{session_id}", sessions_api.end_session)
    # The customer's own rights: export, deletion, erasure of a visitor.
    router.add_post("/ot/v1/account/export", rights_api.export_account)
    router.add_get("/ot/v1/account/deletion", rights_api.deletion_status)
    router.add_post("/ot/v1/account/deletion", rights_api.request_account_deletion)
    router.add_delete("/ot/v1/account/deletion", rights_api.cancel_account_deletion)
    router.add_post("/ot/v1/sites/{site_id}/erasures", rights_api.erase_site_visitor)
    # The OpenAPI document of every route here.
    router.add_get("/ot/v1/openapi.json", openapi.openapi_document)
    # Operations.
    router.add_get("/healthz", ops.healthz)
    router.add_get("/readyz", ops.readyz)
    router.add_get("/metrics", ops.prometheus_metrics)
