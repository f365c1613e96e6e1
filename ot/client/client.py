"""`OtClient`: one method per route the terminal UI and scripts need, each answering the
route's `ot.api` model, and each refusal raised as one of `ot.client.errors`.

    async with OtClient("https://ot.example") as client:  # the stored credential, if any
        await client.log_in("me@example.org", password)
        sites = await client.list_sites()

A session token (from `log_in`) and an API key are both sent as `Authorization: Bearer`, never
as a cookie: the cookie is for browsers and needs a CSRF token besides."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ValidationError

from ot.api.accounts import (
    Accepted,
    DisableIn,
    EmailChangeIn,
    EmailChangeRequested,
    EnableIn,
    EnrolmentOut,
    History,
    NewAccount,
    PasswordChanged,
    PasswordIn,
    ProfileIn,
    ProfileOut,
    ProfileUpdated,
    RecoveryCodes,
    SecondFactorState,
    VerificationIn,
    Verified,
)
from ot.api.api_keys import CreatedKey, KeyList, NewKey, Revoked
from ot.api.billing import BillingOverview, InvoiceDocument, PaymentStarted
from ot.api.dashboard import DashboardSummary, Snippet
from ot.api.goals import GoalList, GoalOut, NewGoal
from ot.api.grants import GrantList, GrantOut, GrantReadList, IssuedGrantOut, NewGrant
from ot.api.login import LoggedIn, LoginIn
from ot.api.rights import DeletionRequest, DeletionStatus
from ot.api.sessions import Ended, SessionList
from ot.api.sites import NewSite, Removed, SiteList, SiteOut, SiteSettingsIn, VerifyOut
from ot.api.ssh_keys import NewSshKey, SshKeyList, SshKeyOut, SshKeyRemoved
from ot.api.stats import QueryAnswer, QueryBatchLine, RealtimeVisitors, StatsQuery
from ot.api.team import (
    InvitationIn,
    InvitationList,
    InvitationOut,
    Left,
    MemberList,
    MemberOut,
    MemberRole,
    Memberships,
    RoleChange,
    Withdrawn,
)
from ot.client.credentials import CredentialStore, StoredCredential, server_key
from ot.client.errors import (
    ClientError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotLoggedIn,
    Throttled,
    Unavailable,
)

Answer = TypeVar("Answer", bound=BaseModel)
DEFAULT_TIMEOUT_SECONDS = 30.0
JSON_LINES = "application/x-ndjson"
# What a session token starts with (`ot.accounts.sessions.SESSION_PREFIX`, which the client may
# not import; tests/test_client.py checks they agree). Anything else is an API key.
SESSION_TOKEN_PREFIX = "ots_"


class OtClient:
    """A typed client of one opentracker server.

    The credential is, in this order: `credential` (a session token or an API key), `api_key`,
    or the one stored for `base_url` in `credentials` (the user's config folder by default).
    `log_in` stores the new session's token there; `log_out` ends the session and forgets it."""

    def __init__(
        self,
        base_url: str,
        credential: str | None = None,
        *,
        api_key: str | None = None,
        credentials: CredentialStore | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = server_key(base_url)
        self.credentials = credentials if credentials is not None else CredentialStore()
        self.token: str | None = credential or api_key
        if self.token is None:
            stored = self.credentials.load(self.base_url)
            self.token = stored.token if stored is not None else None
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OtClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- registering ---------------------------------------------------------------------

    async def register(
        self,
        name: str,
        email: str,
        password: str,
        *,
        region: Literal["nl", "us"],
        consent: bool,
        **contact: str,
    ) -> Accepted:
        """A new account, hosted in `region` with the holder's `consent`; `contact` is company,
        address and phone. Its address is confirmed with the mailed token (`verify_email`)."""
        body = _body(
            NewAccount,
            name=name,
            email=email,
            password=password,
            region=region,
            consent=consent,
            **contact,
        )
        return await self._call("POST", "/ot/v1/accounts", Accepted, body=body, anonymous=True)

    async def verify_email(self, token: str) -> Verified:
        """Confirm an address with the token of the mailed link (the link's `token=` part)."""
        body = _body(VerificationIn, token=token)
        return await self._call(
            "POST", "/ot/v1/accounts/verify", Verified, body=body, anonymous=True
        )

    # --- logging in and out ---------------------------------------------------------------

    async def log_in(
        self,
        email: str,
        password: str,
        *,
        totp_code: str | None = None,
        recovery_code: str | None = None,
    ) -> LoggedIn:
        """A new session, whose token is used from now on and stored for the next run."""
        body = _body(
            LoginIn,
            email=email,
            password=password,
            totp_code=totp_code,
            recovery_code=recovery_code,
        )
        logged_in = await self._call("POST", "/ot/v1/login", LoggedIn, body=body, anonymous=True)
        self.token = logged_in.token
        self.credentials.save(self.base_url, StoredCredential("session", logged_in.token))
        return logged_in

    async def log_out(self) -> None:
        """End this session on the server and forget it here. It is forgotten even when the
        server cannot be told (it ends by itself when it expires); an API key is only
        forgotten here (revoke it with `revoke_key`)."""
        try:
            if self.token is not None and not _is_api_key(self.token):
                await self._call("DELETE", "/ot/v1/sessions/current", Ended)
        except NotLoggedIn:
            pass  # already ended or expired: nothing to end
        finally:
            self.token = None
            self.credentials.delete(self.base_url)

    async def use_api_key(self, key: str) -> SiteList:
        """Use an API key from now on, and store it for the next run, once the server has
        answered to it: it lists the sites, which is what a key for the terminal must do
        (scope `sites:read`). A key refused (`NotLoggedIn`, `Forbidden`) leaves the credential
        as it was."""
        key = key.strip()
        if key.startswith(SESSION_TOKEN_PREFIX):
            raise Invalid("key", "this is a session token, not an API key", status=0)
        previous, self.token = self.token, key
        try:
            sites = await self.list_sites()
        except ClientError:
            self.token = previous
            raise
        self.credentials.save(self.base_url, StoredCredential("api_key", key))
        return sites

    @property
    def uses_api_key(self) -> bool:
        return self.token is not None and _is_api_key(self.token)

    # --- the account ----------------------------------------------------------------------

    async def profile(self) -> ProfileOut:
        """Who is logged in: the account's profile."""
        return await self._call("GET", "/ot/v1/account", ProfileOut)

    async def update_profile(self, **changes: Any) -> ProfileUpdated:
        """Change the fields given (name, company, address, phone, region with consent)."""
        body = _body(ProfileIn, **changes)
        return await self._call("PATCH", "/ot/v1/account", ProfileUpdated, body=body)

    async def profile_history(self) -> History:
        """Every change of the profile: when, by whom, and the former values."""
        return await self._call("GET", "/ot/v1/account/history", History)

    async def change_password(
        self, current_password: str, new_password: str, *, code: str | None = None
    ) -> PasswordChanged:
        """A new password (a session only; `code` when the second factor is on). The
        account's other sessions end."""
        body = _body(
            PasswordIn, current_password=current_password, new_password=new_password, code=code
        )
        return await self._call("POST", "/ot/v1/account/password", PasswordChanged, body=body)

    async def change_email(
        self, email: str, current_password: str, *, code: str | None = None
    ) -> EmailChangeRequested:
        """A new login address, in use once confirmed through the link mailed to it."""
        body = _body(EmailChangeIn, email=email, current_password=current_password, code=code)
        return await self._call("POST", "/ot/v1/account/email", EmailChangeRequested, body=body)

    async def begin_second_factor(self) -> EnrolmentOut:
        """A new TOTP secret for the authenticator app; on once confirmed with a code."""
        return await self._call("POST", "/ot/v1/account/second-factor", EnrolmentOut)

    async def confirm_second_factor(self, password: str, code: str) -> RecoveryCodes:
        """Turn the second factor on; the answer's recovery codes are shown this once."""
        body = _body(EnableIn, password=password, code=code)
        path = "/ot/v1/account/second-factor/confirm"
        return await self._call("POST", path, RecoveryCodes, body=body)

    async def disable_second_factor(self, password: str, code: str) -> SecondFactorState:
        body = _body(DisableIn, password=password, code=code)
        path = "/ot/v1/account/second-factor/disable"
        return await self._call("POST", path, SecondFactorState, body=body)

    # --- sessions and API keys ------------------------------------------------------------

    async def list_sessions(self) -> SessionList:
        return await self._call("GET", "/ot/v1/sessions", SessionList)

    async def end_session(self, session_id: int | Literal["current"]) -> Ended:
        return await self._call("DELETE", f"/ot/v1/sessions/{session_id}", Ended)

    async def end_other_sessions(self) -> Ended:
        """End every session of the account but this one (one by one: the server's
        `DELETE /ot/v1/sessions` ends this one too, see `end_every_session`)."""
        ended = 0
        for other in (await self.list_sessions()).sessions:
            if not other.current:
                with contextlib.suppress(NotFound):  # it ended meanwhile (or expired)
                    ended += (await self.end_session(other.id)).ended
        return Ended(ended=ended)

    async def end_every_session(self) -> Ended:
        """Log out everywhere: every session of the account ends, this one too, so its token
        is forgotten here."""
        ended = await self._call("DELETE", "/ot/v1/sessions", Ended)
        if self.token is not None and not _is_api_key(self.token):
            self.token = None
            self.credentials.delete(self.base_url)
        return ended

    async def list_keys(self) -> KeyList:
        return await self._call("GET", "/ot/v1/keys", KeyList)

    async def create_key(self, name: str, scopes: list[str]) -> CreatedKey:
        """A new API key; its `key` is in this answer only."""
        body = _body(NewKey, name=name, scopes=scopes)
        return await self._call("POST", "/ot/v1/keys", CreatedKey, body=body)

    async def revoke_key(self, key_id: int) -> Revoked:
        return await self._call("DELETE", f"/ot/v1/keys/{key_id}", Revoked)

    # --- SSH keys (they open the terminal UI over SSH) ----------------------------------------

    async def list_ssh_keys(self) -> SshKeyList:
        return await self._call("GET", "/ot/v1/ssh-keys", SshKeyList)

    async def add_ssh_key(self, public_key: str, name: str | None = None) -> SshKeyOut:
        """Register a public key (a line of `~/.ssh/id_ed25519.pub`); its comment names it
        unless `name` does."""
        body = _body(NewSshKey, public_key=public_key, name=name)
        return await self._call("POST", "/ot/v1/ssh-keys", SshKeyOut, body=body)

    async def remove_ssh_key(self, key_id: int) -> SshKeyRemoved:
        return await self._call("DELETE", f"/ot/v1/ssh-keys/{key_id}", SshKeyRemoved)

    # --- billing: plan, usage, invoices, paying through PayPal ------------------------------

    async def billing(self) -> BillingOverview:
        return await self._call("GET", "/ot/v1/billing", BillingOverview)

    async def invoice(self, number: str) -> InvoiceDocument:
        return await self._call("GET", f"/ot/v1/billing/invoices/{quote(number)}", InvoiceDocument)

    async def pay_invoice(self, number: str) -> PaymentStarted:
        """The PayPal page where the payment of an open invoice is approved; PayPal then sends
        the payer back to the server, which marks the invoice paid."""
        path = f"/ot/v1/billing/invoices/{quote(number)}/payment"
        return await self._call("POST", path, PaymentStarted)

    # --- sites ----------------------------------------------------------------------------

    async def list_sites(self) -> SiteList:
        return await self._call("GET", "/ot/v1/sites", SiteList)

    async def add_site(self, domain: str, **settings: Any) -> SiteOut:
        """A new site; `settings` are `SiteSettingsIn`'s fields (and `team_id`)."""
        body = _body(NewSite, domain=domain, **settings)
        return await self._call("POST", "/ot/v1/sites", SiteOut, body=body)

    async def site(self, site_id: int) -> SiteOut:
        return await self._call("GET", f"/ot/v1/sites/{site_id}", SiteOut)

    async def update_site(self, site_id: int, **settings: Any) -> SiteOut:
        """Change the settings given; the others stay as they are."""
        body = _body(SiteSettingsIn, **settings)
        return await self._call("PATCH", f"/ot/v1/sites/{site_id}", SiteOut, body=body)

    async def remove_site(self, site_id: int) -> Removed:
        """Remove a site and everything stored for it."""
        return await self._call("DELETE", f"/ot/v1/sites/{site_id}", Removed)

    async def verify_site(self, site_id: int) -> VerifyOut:
        return await self._call("POST", f"/ot/v1/sites/{site_id}/verify", VerifyOut)

    async def snippet(self, site_id: int) -> Snippet:
        """The site's tracking snippet, to put in every page's `<head>`."""
        return await self._call("GET", f"/ot/v1/sites/{site_id}/snippet", Snippet)

    # --- goals ----------------------------------------------------------------------------

    async def list_goals(self, site_id: int) -> GoalList:
        return await self._call("GET", f"/ot/v1/sites/{site_id}/goals", GoalList)

    async def add_goal(
        self,
        site_id: int,
        *,
        page: str | None = None,
        event: str | None = None,
        name: str | None = None,
    ) -> GoalOut:
        """A new goal: a page reached (`page`, a path pattern) or a custom event (`event`)."""
        given = {"page": page, "event": event, "name": name}
        body = _body(NewGoal, **{key: value for key, value in given.items() if value is not None})
        return await self._call("POST", f"/ot/v1/sites/{site_id}/goals", GoalOut, body=body)

    async def remove_goal(self, site_id: int, goal_id: int) -> GoalOut:
        """Remove a goal (its past conversions are no longer counted); the goal removed."""
        return await self._call("DELETE", f"/ot/v1/sites/{site_id}/goals/{goal_id}", GoalOut)

    # --- statistics -----------------------------------------------------------------------

    async def summary(
        self, site_id: int, period: str = "day", date: str | None = None
    ) -> DashboardSummary:
        """The dashboard's figures for a Stats API period (`day`, `7d`, `30d`, `month`, ...)
        ending on `date` (an ISO day; today in the site's time zone by default)."""
        params = {"period": period} | ({"date": date} if date is not None else {})
        path = f"/ot/v1/sites/{site_id}/summary"
        return await self._call("GET", path, DashboardSummary, params=params)

    async def realtime_visitors(self, domain: str) -> int:
        """Visitors on the site in the last five minutes (Plausible's realtime figure)."""
        params = {"site_id": domain}
        path = "/api/v1/stats/realtime/visitors"
        return (await self._call("GET", path, RealtimeVisitors, params=params)).root

    async def query(self, query: StatsQuery) -> QueryAnswer:
        """A Stats API v2 query (`POST /api/v2/query`)."""
        body = query.model_dump(mode="json", exclude_none=True)
        return await self._call("POST", "/api/v2/query", QueryAnswer, body=body)

    async def query_many(
        self, queries: Sequence[StatsQuery]
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        """Stats API v2 queries asked in one request (`POST /ot/v1/stats/queries`): each
        query's place in `queries` with its answer, or the error that refused it alone, in the
        order they are answered. A failure of the whole request (refused, unreachable, cut
        short) is raised."""
        body = {"queries": [query.model_dump(mode="json", exclude_none=True) for query in queries]}
        path = "/ot/v1/stats/queries"
        async for raw in self._lines("POST", path, body):
            try:
                line = QueryBatchLine.model_validate_json(raw)
            except ValidationError as error:
                raise ClientError(f"unexpected answer from POST {path}: {error}") from None
            if line.answer is not None:
                yield line.index, line.answer
                continue
            refused = {"error": line.error.model_dump() if line.error else None}
            retry_after = str(line.retry_after) if line.retry_after is not None else None
            yield line.index, _error_of(line.status, json.dumps(refused).encode(), retry_after)

    # --- team -----------------------------------------------------------------------------

    async def list_members(self, team_id: int | None = None) -> MemberList:
        return await self._call("GET", "/ot/v1/team/members", MemberList, params=_team(team_id))

    async def list_invitations(self, team_id: int | None = None) -> InvitationList:
        return await self._call(
            "GET", "/ot/v1/team/invitations", InvitationList, params=_team(team_id)
        )

    async def invite(
        self, email: str, role: MemberRole, team_id: int | None = None
    ) -> InvitationOut:
        body = _body(InvitationIn, email=email, role=role, team_id=team_id)
        return await self._call("POST", "/ot/v1/team/invitations", InvitationOut, body=body)

    async def withdraw_invitation(self, invitation_id: int) -> Withdrawn:
        path = f"/ot/v1/team/invitations/{invitation_id}"
        return await self._call("DELETE", path, Withdrawn)

    async def list_memberships(self) -> Memberships:
        """The other teams this account belongs to, with its role in each."""
        return await self._call("GET", "/ot/v1/team/memberships", Memberships)

    async def change_member_role(self, member_id: int, role: MemberRole) -> MemberOut:
        body = _body(RoleChange, role=role)
        path = f"/ot/v1/team/members/{member_id}"
        return await self._call("PATCH", path, MemberOut, body=body)

    async def remove_member(self, member_id: int) -> Left:
        """Remove a member from the team (or, with one's own membership, leave it)."""
        return await self._call("DELETE", f"/ot/v1/team/members/{member_id}", Left)

    # --- grants ---------------------------------------------------------------------------

    async def list_grants(self, status: str | None = None) -> GrantList:
        params = {"status": status} if status is not None else None
        return await self._call("GET", "/ot/v1/grants", GrantList, params=params)

    async def create_grant(
        self,
        grantee: str,
        purpose: str,
        site_ids: list[int],
        metrics: list[str],
        expires_at: datetime,
        **terms: Any,
    ) -> IssuedGrantOut:
        """A grant for a third party; its `key` (and `link_token`) are in this answer only.
        `terms` are `NewGrant`'s other fields."""
        body = _body(
            NewGrant,
            grantee=grantee,
            purpose=purpose,
            site_ids=site_ids,
            metrics=metrics,
            expires_at=expires_at,
            **terms,
        )
        return await self._call("POST", "/ot/v1/grants", IssuedGrantOut, body=body)

    async def grant(self, grant_id: int) -> GrantOut:
        return await self._call("GET", f"/ot/v1/grants/{grant_id}", GrantOut)

    async def revoke_grant(self, grant_id: int) -> GrantOut:
        return await self._call("DELETE", f"/ot/v1/grants/{grant_id}", GrantOut)

    async def resume_grant(self, grant_id: int) -> GrantOut:
        """Confirm a grant suspended for unusual reading, so it answers again."""
        return await self._call("POST", f"/ot/v1/grants/{grant_id}/confirm", GrantOut)

    async def grant_reads(self, grant_id: int, before_id: int | None = None) -> GrantReadList:
        """What the third party read through the grant, newest first (older pages with
        `before_id`, the last read's id)."""
        params = {"before_id": str(before_id)} if before_id is not None else None
        path = f"/ot/v1/grants/{grant_id}/reads"
        return await self._call("GET", path, GrantReadList, params=params)

    # --- the account holder's rights ------------------------------------------------------

    async def export_account(self) -> bytes:
        """Everything held about the account: a zip of account.json and a CSV per site."""
        return await self._request("POST", "/ot/v1/account/export", None, None, anonymous=False)

    async def deletion_status(self) -> DeletionStatus:
        return await self._call("GET", "/ot/v1/account/deletion", DeletionStatus)

    async def request_deletion(self, password: str) -> DeletionStatus:
        """Delete the account after the grace period. Every session ends now, this one too,
        so its stored token is forgotten."""
        body = _body(DeletionRequest, confirm=True, password=password)
        status = await self._call("POST", "/ot/v1/account/deletion", DeletionStatus, body=body)
        if self.token is not None and not _is_api_key(self.token):
            self.token = None
            self.credentials.delete(self.base_url)
        return status

    async def cancel_deletion(self) -> DeletionStatus:
        return await self._call("DELETE", "/ot/v1/account/deletion", DeletionStatus)

    # --- HTTP -----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[Answer],
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Answer:
        raw = await self._request(method, path, body, params, anonymous=anonymous)
        try:
            return answer.model_validate_json(raw)
        except ValidationError as error:
            # The server answered something its contract does not describe.
            raise ClientError(f"unexpected answer from {method} {path}: {error}") from None

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
        *,
        anonymous: bool,
    ) -> bytes:
        headers = {"Accept": "application/json"}
        if not anonymous:
            if self.token is None:
                raise NotLoggedIn("log in first: no session or API key is known", status=0)
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._http().request(
                method, self.base_url + path, json=body, params=params, headers=headers
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise _error_of(response.status, raw, response.headers.get("Retry-After"))
                return raw
        except aiohttp.ClientError as error:
            raise Unavailable(f"cannot reach {self.base_url}: {error}") from None
        except TimeoutError:
            raise Unavailable(f"{self.base_url} did not answer in time") from None

    async def _lines(self, method: str, path: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """The lines of a streamed answer, each as it arrives. It may take longer than one
        call's timeout in all, but never that long between two lines."""
        if self.token is None:
            raise NotLoggedIn("log in first: no session or API key is known", status=0)
        headers = {"Accept": JSON_LINES, "Authorization": f"Bearer {self.token}"}
        between_lines = aiohttp.ClientTimeout(total=None, sock_read=self._timeout.total)
        try:
            async with self._http().request(
                method, self.base_url + path, json=body, headers=headers, timeout=between_lines
            ) as response:
                if response.status >= 400:
                    raw = await response.read()
                    raise _error_of(response.status, raw, response.headers.get("Retry-After"))
                async for line in response.content:
                    if line.strip():
                        yield line
        except aiohttp.ClientError as error:
            raise Unavailable(f"cannot reach {self.base_url}: {error}") from None
        except TimeoutError:
            raise Unavailable(f"{self.base_url} did not answer in time") from None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookie jar: credentials go in the Authorization header only (the session
            # cookie the log-in also sets is for browsers).
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session


def _body(model: type[BaseModel], **values: Any) -> dict[str, Any]:
    """The request body, checked against the route's model before it is sent (an error names
    the field, as the server's would). Unset fields are left out: on PATCH they stay as
    they are."""
    try:
        checked = model.model_validate(values)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or None
        raise Invalid(field, problem["msg"], status=0) from None  # status 0: never sent
    return checked.model_dump(mode="json", exclude_unset=True)


def _is_api_key(token: str) -> bool:
    return not token.startswith(SESSION_TOKEN_PREFIX)


def _team(team_id: int | None) -> dict[str, str] | None:
    return {"team_id": str(team_id)} if team_id is not None else None


def _error_of(status: int, raw: bytes, retry_after_header: str | None) -> ClientError:
    """The typed error of a refusal, from our error shape or Plausible's."""
    code: str | None = None
    field: str | None = None
    message = raw.decode("utf-8", errors="replace")[:500] or f"HTTP {status}"
    try:
        error = json.loads(raw)["error"]
    except (ValueError, TypeError, KeyError):
        error = None
    if isinstance(error, dict):
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = str(error.get("message", message))
        field = error.get("field") if isinstance(error.get("field"), str) else None
    elif isinstance(error, str):
        message = error
    retry_after = (
        int(retry_after_header)
        if retry_after_header is not None and retry_after_header.strip().isdigit()
        else None
    )
    if status == 401:
        return NotLoggedIn(message, status=status, code=code)
    if status == 403:
        return Forbidden(message, status=status, code=code)
    if status == 404:
        return NotFound(message, status=status, code=code)
    if status == 409:
        return Conflict(message, status=status, code=code)
    if status == 429:
        return Throttled(message, retry_after=retry_after, status=status, code=code)
    if status >= 500:
        return Unavailable(message, retry_after=retry_after, status=status, code=code)
    if status in (400, 413, 422):
        return Invalid(field, message, status=status, code=code)
    return ClientError(message, status=status, code=code)
