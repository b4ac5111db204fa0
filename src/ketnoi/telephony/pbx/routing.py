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


def _inbound_index(cfg: PbxConfig):
    """Per snapshot, built once: routes with an exact DID by that DID, and the other routes, each in
    the order they are tried (most specific first), so a lookup is a dict hit or a short scan."""
    index = cfg._index.get("inbound_order")
    if index is None:
        exact: dict[str, list[InboundRouteConfig]] = {}
        others = []
        for r in cfg.inbound_routes:
            if r.enabled:
                (exact.setdefault(r.did, []) if compiled(r.did).literal else others).append(r)
        def order(r: InboundRouteConfig) -> tuple:
            return (inbound_key(r), r.name, r.id)

        index = ({did: sorted(rs, key=order) for did, rs in exact.items()}, sorted(others, key=order))
        cfg._index["inbound_order"] = index
    return index


def inbound_route_for(cfg: PbxConfig, did: str, caller: str) -> InboundRouteConfig | None:
    exact, others = _inbound_index(cfg)
    for r in exact.get(did, ()):
        if compiled(r.caller).matches(caller):
            return r
    for r in others:
        if compiled(r.did).matches(did) and compiled(r.caller).matches(caller):
            return r
    return None


def match_inbound(cfg: PbxConfig, did: str, caller: str) -> Destination | None:
    """Where a call to ``did`` from ``caller`` goes, or None when no route takes it."""
    route = inbound_route_for(cfg, did, caller)
    return route.destination if route else None


class OutboundMatch(NamedTuple):
    route: OutboundRouteConfig
    number: str  # what to send to the trunk
    trunks: tuple[TrunkConfig, ...]  # failover order


def _outbound_order(cfg: PbxConfig):
    """Per snapshot, built once: enabled routes in position order with their usable trunks."""
    order = cfg._index.get("outbound_order")
    if order is None:
        order = []
        for route in sorted(cfg.outbound_routes, key=lambda r: (r.position, r.name)):
            trunks = tuple(t for t in (cfg.trunk(i) for i in route.trunk_ids) if t is not None and t.enabled)
            if route.enabled and trunks:
                order.append((route, trunks, tuple((p, compiled(p.match)) for p in route.patterns)))
        cfg._index["outbound_order"] = order
    return order


def match_outbound(cfg: PbxConfig, dialled: str) -> OutboundMatch | None:
    """The route, the number to send and the trunks to try, for a number dialled by an extension."""
    for route, trunks, pats in _outbound_order(cfg):
        for p, pattern in pats:
            if dialled.startswith(p.prefix):
                rest = dialled[len(p.prefix):]
                if rest and pattern.matches(rest):
                    return OutboundMatch(route, p.prepend + rest, trunks)
    return None
