"""Micro-benchmark of route matching and Apply (CC-10, CC-11): what the engine pays per call to pick
an inbound route and an outbound route, and what Apply costs on a large configuration.

    .venv/bin/python bench/pbx_routing.py                  # 1,000 inbound and 200 outbound routes
    .venv/bin/python bench/pbx_routing.py --inbound 5000 --outbound 500

Route matching is a linear scan over the snapshot with compiled patterns (cached), so the figure to
watch is µs per lookup against the number of routes. Validation compares inbound routes pairwise
(overlap check), so its cost grows with the square of their number; it runs only on Apply.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ketnoi.telephony.pbx.config import (
    Destination,
    DialPattern,
    ExtensionConfig,
    GeneralConfig,
    InboundRouteConfig,
    OutboundRouteConfig,
    PbxConfig,
    TrunkConfig,
)
from ketnoi.telephony.pbx.routing import match_inbound, match_outbound
from ketnoi.telephony.pbx.validation import validate


def build(n_in: int, n_out: int) -> PbxConfig:
    exts = tuple(ExtensionConfig(f"e{n}", str(1000 + n), "", "0" * 32, "0" * 64, "", "", ("PCMA",), False, 3, ())
                 for n in range(200))
    trunks = tuple(TrunkConfig(f"t{n}", f"T{n}", "register", "sip.example", 5060, "udp", "u", "p", "", 300, (),
                               "extension", "", 0, ("PCMA",)) for n in range(4))
    inbound = []
    for n in range(n_in):  # distinct DIDs 024xxxxxxx, some with caller patterns, one catch-all
        did = f"02436{n:05d}"
        inbound.append(InboundRouteConfig(f"r{n}", f"R{n}", did, "_09XXXXXXXX" if n % 3 == 0 else "",
                                          Destination("extension", str(1000 + n % 200))))
    inbound.append(InboundRouteConfig("any", "Mặc định", "", "", Destination("hangup")))
    outbound = tuple(OutboundRouteConfig(f"o{n}", f"O{n}", n, (DialPattern("", f"_{n:03d}XXXXXX", ""),),
                                         ("t0", "t1")) for n in range(n_out))
    outbound += (OutboundRouteConfig("mobile", "Di động", n_out, (DialPattern("9", "_0[35789]XXXXXXXX", ""),),
                                     ("t2", "t3")),)
    return PbxConfig("org", 1, "", GeneralConfig(), exts, trunks, tuple(inbound), outbound, (), ())


def per_call(fn, args_list) -> float:
    start = time.perf_counter()
    for args in args_list:
        fn(*args)
    return (time.perf_counter() - start) / len(args_list) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inbound", type=int, default=1000)
    ap.add_argument("--outbound", type=int, default=200)
    ap.add_argument("--lookups", type=int, default=5000)
    a = ap.parse_args()
    cfg = build(a.inbound, a.outbound)
    rnd = random.Random(7)
    calls_in = [(cfg, f"02436{rnd.randrange(a.inbound):05d}", f"09{rnd.randrange(10**8):08d}")
                for _ in range(a.lookups)]
    calls_out = [(cfg, f"90{rnd.choice('35789')}{rnd.randrange(10**8):08d}") for _ in range(a.lookups)]
    match_inbound(*calls_in[0])  # warm the pattern cache
    match_outbound(*calls_out[0])
    us_in = per_call(match_inbound, calls_in)
    us_out = per_call(match_outbound, calls_out)
    start = time.perf_counter()
    errors = validate(cfg)
    apply_s = time.perf_counter() - start
    print(f"routes: {a.inbound + 1} inbound, {a.outbound + 1} outbound (mobile route last)")
    print(f"match_inbound : {us_in:8.1f} µs per call ({1e6 / us_in:,.0f} lookups/s)")
    print(f"match_outbound: {us_out:8.1f} µs per call ({1e6 / us_out:,.0f} lookups/s)")
    print(f"validate (Apply rules): {apply_s * 1000:8.1f} ms, {len(errors)} errors")


if __name__ == "__main__":
    main()
