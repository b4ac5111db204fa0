"""bench/telephony.py keeps working: a tiny run (2 calls, 5 setups/s) in its own process, since it
starts the engine, SIPp and its own database. Figures are printed, never asserted (docs/BENCHMARKS.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "telephony.py"


@pytest.mark.skipif(not shutil.which("sipp"), reason="SIPp is installed by `make system-test-deps`")
def test_tiny_run_prints_both_tables():
    run = subprocess.run([sys.executable, str(BENCH), "--levels", "2", "--rates", "5", "--probe-seconds", "2",
                          "--probes", "1", "--rate-seconds", "2", "--ramp", "10", "--max-minutes", "4"],
                         check=False, capture_output=True, text=True, timeout=300, cwd=BENCH.parents[1])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "| Recording | Concurrent calls |" in out and "| Setup rate (calls/s) |" in out
    assert "| off | 2 | yes |" in out and "| on | 2 | yes |" in out  # every SIPp call completed
    assert "| 5 | 10 | yes |" in out
