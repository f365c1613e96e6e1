"""The Plausible Events API body (`POST /api/event`) turned into a validated `IncomingHit`.

Plausible's own script sends the JSON as text/plain, so the bytes are read as JSON whatever the
Content-Type. Field names, short first: n/name, u/url, d/domain (comma-separated list),
r/referrer, m/meta/p/props, revenue (or "$"), h/hashMode, i/interactive; and our extensions
`vid` (the tracker's first-party visitor id) and `eid` (an id that makes a retry count once).
Fields we do not know (v, sd, e, ...) are ignored, as Plausible ignores them.

Where we differ from Plausible, deliberately (it ignores or cuts what we refuse):
- `domain` is required: Plausible falls back to the URL's host.
- more than `max_props` props is an error: Plausible keeps the first 30.
- a bad `revenue`, a `props` that is no object, a non-boolean `interactive`, an `h` other than
  1/0, a non-string `referrer` are errors: Plausible ignores them.
Where we follow it: nested or null prop values and blank props are dropped; over-long prop keys or
values, a missing or over-long URL and an over-long name are errors; an over-long referrer is cut.

Plausible answers 202 with the text "ok" when it takes an event (even one it then drops) and 400
with `{"errors": {"<field>": ["<message>"]}}` when it refuses one; see the handler.
"""

from __future__ import annotations

from ot.ingest._fields import hit_from_fields, json_object_body
from ot.ingest.hit import IncomingHit, PayloadLimits

# The current Plausible script sends this when a page is left, with scroll depth (`sd`) and
# engagement time (`e`) but nothing worth a custom event: callers decide what to do with it.
ENGAGEMENT = "engagement"


def parse_event(
    body: bytes,
    *,
    user_agent: str,
    ip: str,
    limits: PayloadLimits,
    do_not_track: bool = False,
) -> IncomingHit:
    """Validate one Plausible event body; raise `InvalidInput` naming the bad field."""
    payload = json_object_body(body, limits, what="of event fields")
    return hit_from_fields(
        payload, user_agent=user_agent, ip=ip, limits=limits, do_not_track=do_not_track
    )
