"""bench/sms.py still runs end to end (tiny sizes; the figures themselves go to docs/BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sms_bench_runs():
    out = subprocess.run([sys.executable, "bench/sms.py", "--n", "60", "--window", "5", "--mo", "20"], check=False,
                         cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert sum(line.startswith("outgoing") for line in lines) == 3
    assert "20 stored, 20 hub events" in lines[-1]
