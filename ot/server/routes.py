"""Every route of the server, in one place."""

from aiohttp import web

from ot.server import collect, keys_api, ops, sessions_api, sites_api, stats_api, team_api


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
    router.add_get("/ot/v1/keys", keys_api.list_keys)
    router.add_post("/ot/v1/keys", keys_api.create_key)
    router.add_delete("/ot/v1/keys/{key_id}", keys_api.revoke_key)
    # Our own API: the sites and teams the caller works on.
    router.add_get("/ot/v1/sites", sites_api.list_sites)
    router.add_post("/ot/v1/sites", sites_api.create_site)
    router.add_get("/ot/v1/sites/{site_id}", sites_api.get_site)
    router.add_patch("/ot/v1/sites/{site_id}", sites_api.change_site)
    router.add_delete("/ot/v1/sites/{site_id}", sites_api.remove_site)
    router.add_post("/ot/v1/sites/{site_id}/verify", sites_api.verify)
    router.add_get("/ot/v1/team/members", team_api.list_members)
    router.add_patch("/ot/v1/team/members/{member_id}", team_api.patch_member)
    router.add_delete("/ot/v1/team/members/{member_id}", team_api.delete_member)
    router.add_get("/ot/v1/team/memberships", team_api.list_my_memberships)
    router.add_get("/ot/v1/team/invitations", team_api.list_invitations)
    router.add_post("/ot/v1/team/invitations", team_api.create_invitation)
    router.add_post("/ot/v1/team/invitations/accept", team_api.accept)
    router.add_delete("/ot/v1/team/invitations/{invitation_id}", team_api.delete_invitation)
    # Operations.
    router.add_get("/healthz", ops.healthz)
    router.add_get("/readyz", ops.readyz)
    router.add_get("/metrics", ops.prometheus_metrics)
