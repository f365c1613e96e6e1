"""Our no-JavaScript image beacon: `GET /pixel.gif?d=...&u=...` turned into an `IncomingHit`.

The parameters and rules are the Plausible parser's (`n`, `u`, `d`, `r`, `p`, `h`, `i`, `vid`,
`eid`, ...), with two defaults an `<img>` tag needs: a missing `n` is a page view, and a missing
`u` is the home page of the first domain. `p` and `revenue` are JSON strings here; flags are
"1"/"0"/"true"/"false". An e-mail open pixel sends `n=Email+Open&u=...`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ot.ingest._fields import hit_from_fields
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits


def parse_pixel(
    params: Mapping[str, str],
    *,
    user_agent: str,
    ip: str,
    limits: PayloadLimits,
    do_not_track: bool = False,
) -> IncomingHit:
    """Validate one pixel request's (already URL-decoded) query parameters."""
    return hit_from_fields(
        params,
        user_agent=user_agent,
        ip=ip,
        limits=limits,
        do_not_track=do_not_track,
        default_name=PAGEVIEW,
        url_from_domain=True,
    )
