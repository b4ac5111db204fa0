"""Route matching on an applied snapshot (CC-10, CC-11). Pure functions, called by the engine for
every call.

Inbound: among the enabled routes whose DID pattern matches the dialled number and whose caller
pattern matches the caller, the most specific wins — first by DID (exact number, then finite
patterns matching fewer numbers, then open-ended ones with a longer fixed part, then "any DID"),
then by caller pattern the same way. Apply refuses two routes that could match the same call with
equal specificity, so the winner never depends on storage order.

Outbound: routes are tried in their position order and, within a route, its dial patterns in
order; the first whose prefix begins the dialled number and whose pattern matches the rest wins.
The number sent is ``prepend + rest``. A route whose trunks are all missing or disabled is
skipped (apply refuses such routes, this only guards a hand-built snapshot).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ketnoi.telephony.pbx import patterns
from ketnoi.telephony.pbx.config import (
    Destination,
    InboundRouteConfig,
    OutboundRouteConfig,
    PbxConfig,
    TrunkConfig,
)


@lru_cache(maxsize=4096)
def compiled(text: str) -> patterns.Pattern:
    return patterns.parse(text)


def inbound_key(route: InboundRouteConfig) -> tuple:
    return (compiled(route.did).specificity(), compiled(route.caller).specificity())


def inbound_route_for(cfg: PbxConfig, did: str, caller: str) -> InboundRouteConfig | None:
    best: tuple | None = None
    chosen = None
    for r in cfg.inbound_routes:
        if not r.enabled or not compiled(r.did).matches(did) or not compiled(r.caller).matches(caller):
            continue
        key = (inbound_key(r), r.name, r.id)
        if best is None or key < best:
            best, chosen = key, r
    return chosen


def match_inbound(cfg: PbxConfig, did: str, caller: str) -> Destination | None:
    """Where a call to ``did`` from ``caller`` goes, or None when no route takes it."""
    route = inbound_route_for(cfg, did, caller)
    return route.destination if route else None


class OutboundMatch(NamedTuple):
    route: OutboundRouteConfig
    number: str  # what to send to the trunk
    trunks: tuple[TrunkConfig, ...]  # failover order


def match_outbound(cfg: PbxConfig, dialled: str) -> OutboundMatch | None:
    """The route, the number to send and the trunks to try, for a number dialled by an extension."""
    for route in sorted(cfg.outbound_routes, key=lambda r: (r.position, r.name)):
        if not route.enabled:
            continue
        trunks = tuple(t for t in (cfg.trunk(i) for i in route.trunk_ids) if t is not None and t.enabled)
        if not trunks:
            continue
        for p in route.patterns:
            if not dialled.startswith(p.prefix):
                continue
            rest = dialled[len(p.prefix):]
            if rest and compiled(p.match).matches(rest):
                return OutboundMatch(route, p.prepend + rest, trunks)
    return None
