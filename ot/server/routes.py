"""Every route of the server, in one place."""

from aiohttp import web

from ot.server import (
    accounts_api,
    api_keys_api,
    billing_api,
    collect,
    dashboard_api,
    grants_api,
    login_api,
    openapi,
    ops,
    rights_api,
    sessions_api,
    shared_api,
    sites_api,
    ssh_keys_api,
    stats_api,
    stats_batch_api,
    team_api,
)


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
    # Plausible's Sites API (read side): a session or a key with sites:read.
    router.add_get("/api/v1/sites", stats_api.list_sites_v1)
    router.add_get("/api/v1/sites/{site_id}", stats_api.get_site_v1)
    # Our own API: registration and log-in (public).
    router.add_post("/ot/v1/accounts", accounts_api.register_account)
    router.add_post("/ot/v1/accounts/verify", accounts_api.verify_email)
    router.add_get("/ot/v1/accounts/verify", accounts_api.verify_email_link)
    router.add_post("/ot/v1/login", login_api.login)
    # Our own API: the caller's account.
    router.add_get("/ot/v1/account", accounts_api.get_profile)
    router.add_patch("/ot/v1/account", accounts_api.patch_profile)
    router.add_post("/ot/v1/account/email", accounts_api.change_my_email)
    router.add_get("/ot/v1/account/history", accounts_api.profile_history)
    router.add_post("/ot/v1/account/password", accounts_api.change_my_password)
    router.add_post("/ot/v1/account/second-factor", accounts_api.begin_second_factor)
    router.add_post("/ot/v1/account/second-factor/confirm", accounts_api.confirm_second_factor)
    router.add_post("/ot/v1/account/second-factor/disable", accounts_api.disable_second_factor)
    router.add_get("/ot/v1/sessions", sessions_api.list_my_sessions)
    router.add_delete("/ot/v1/sessions", sessions_api.end_all_sessions)
    router.add_delete("/ot/v1/sessions/{session_id}", sessions_api.end_session)
    # Our own API: express permissions for third parties, and their reads.
    router.add_post("/ot/v1/grants", grants_api.create_grant)
    router.add_get("/ot/v1/grants", grants_api.list_my_grants)
    router.add_get("/ot/v1/grants/{grant_id}", grants_api.get_grant)
    router.add_delete("/ot/v1/grants/{grant_id}", grants_api.revoke)
    router.add_post("/ot/v1/grants/{grant_id}/confirm", grants_api.confirm)
    router.add_get("/ot/v1/grants/{grant_id}/reads", grants_api.list_reads)
    router.add_post("/ot/v1/shared/query", shared_api.shared_query)
    router.add_post("/ot/v1/stats/queries", stats_batch_api.query_batch)
    # Our own API: the account's API keys.
    router.add_get("/ot/v1/keys", api_keys_api.list_keys)
    router.add_post("/ot/v1/keys", api_keys_api.create_key)
    router.add_delete("/ot/v1/keys/{key_id}", api_keys_api.revoke_key)
    # Our own API: the SSH keys that open the account's terminal UI.
    router.add_get("/ot/v1/ssh-keys", ssh_keys_api.list_keys)
    router.add_post("/ot/v1/ssh-keys", ssh_keys_api.add_key)
    router.add_delete("/ot/v1/ssh-keys/{key_id}", ssh_keys_api.remove_key)
    # Our own API: the sites and teams the caller works on.
    router.add_get("/ot/v1/sites", sites_api.list_sites)
    router.add_post("/ot/v1/sites", sites_api.create_site)
    router.add_post("/ot/v1/sites/claims", sites_api.claim_site)
    router.add_get("/ot/v1/sites/{site_id}", sites_api.get_site)
    router.add_patch("/ot/v1/sites/{site_id}", sites_api.change_site)
    router.add_delete("/ot/v1/sites/{site_id}", sites_api.remove_site)
    router.add_post("/ot/v1/sites/{site_id}/verify", sites_api.verify)
    # Our own API: what a site's dashboard shows and sets up.
    router.add_get("/ot/v1/sites/{site_id}/goals", dashboard_api.list_goals)
    router.add_post("/ot/v1/sites/{site_id}/goals", dashboard_api.add_goal)
    router.add_delete("/ot/v1/sites/{site_id}/goals/{goal_id}", dashboard_api.remove_goal)
    router.add_get("/ot/v1/sites/{site_id}/snippet", dashboard_api.site_snippet)
    router.add_get("/ot/v1/sites/{site_id}/summary", dashboard_api.site_summary)
    router.add_get("/ot/v1/team/members", team_api.list_members)
    router.add_patch("/ot/v1/team/members/{member_id}", team_api.patch_member)
    router.add_delete("/ot/v1/team/members/{member_id}", team_api.delete_member)
    router.add_get("/ot/v1/team/memberships", team_api.list_my_memberships)
    router.add_get("/ot/v1/team/invitations", team_api.list_invitations)
    router.add_post("/ot/v1/team/invitations", team_api.create_invitation)
    router.add_get("/ot/v1/team/invitations/accept", team_api.invitation_link)
    router.add_post("/ot/v1/team/invitations/accept", team_api.accept)
    router.add_delete("/ot/v1/team/invitations/{invitation_id}", team_api.delete_invitation)
    # Billing: the account's plan and invoices, paying through PayPal, PayPal's calls back.
    router.add_get("/ot/v1/billing", billing_api.billing_overview)
    router.add_get("/ot/v1/billing/invoices/{number}", billing_api.invoice_document)
    router.add_post("/ot/v1/billing/invoices/{number}/payment", billing_api.pay_invoice)
    router.add_get("/billing/paypal/return", billing_api.paypal_return)
    router.add_get("/billing/paypal/cancel", billing_api.paypal_cancel)
    router.add_post("/webhooks/paypal", billing_api.paypal_webhook)
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
