"""bench/rtp_relay.py keeps working: a tiny run. Figures are printed by the script, never asserted here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "rtp_relay.py"


def test_tiny_relay_run(capsys):
    spec = importlib.util.spec_from_file_location("bench_rtp_relay", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_rtp_relay"] = module
    try:
        spec.loader.exec_module(module)
        results = module.main(["--calls", "3", "--seconds", "0.5", "--transcode"])
    finally:
        sys.modules.pop("bench_rtp_relay", None)
    assert [r["record"] for r in results] == [False, True]
    for r in results:
        assert r["sent"] > 0 and r["received"] > 0 and r["cpu_us_per_packet"] > 0
    assert results[1]["recorded_bytes"] > 44 * 3  # three WAV files with audio in them
    assert "| calls | recording |" in capsys.readouterr().out
