"""bench/reports.py keeps working: a tiny run on SQLite. Timings are printed by the script and
never asserted here (docs/BENCHMARKS.md holds the real figures)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reports.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_reports", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_reports"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_reports", None)


def test_small_run_on_sqlite(bench, capsys):
    [result] = bench.main(["--n", "2000", "--db", "sqlite", "--repeat", "3", "--export-rows", "300"])
    assert result["db"] == "sqlite" and result["n"] == 2000 and result["history"] > 2000
    lists = {r.name: r for r in result["lists"]}
    assert {"Phản ánh mới (view=new)", "Quá hạn (view=overdue)", "Lọc lĩnh vực", "Khoảng 7 ngày",
            "Lãnh đạo đơn vị: tất cả", "Tất cả, trang 500 (offset 9.980)"} <= set(lists)
    assert all(r.samples and r.extra["count_p95"] >= 0 for r in lists.values())
    assert lists["Tất cả, trang 1"].extra["total"] > 1500  # the second organization holds about 5 %
    ops = {r.name for r in result["ops"]}
    assert {"Chi tiết (get_report + to_out)", "Tiếp nhận (create_report)", "Chuyển trạng thái: điều phối (dispatch)",
            "Chuyển trạng thái: bắt đầu xử lý (start)"} <= ops
    assert result["export"]["rows"] == 300 and result["export"]["heap_peak_mb_300"] > 0
    out = capsys.readouterr().out
    assert "| Thao tác |" in out and "sqlite p95" in out


def test_generated_reports_follow_the_workflow(bench):
    import random
    from datetime import datetime

    ref = _reference(bench)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    rows = [r for batch, _ in bench.generate(ref, 3000, now, random.Random(1)) for r in batch]
    col = {c: i for i, c in enumerate(bench.REPORT_COLS)}
    statuses = {r[col["status"]] for r in rows}
    assert {"new", "closed", "in_progress", "spam"} <= statuses
    for r in rows:
        assert r[col["received_at"]] <= now
        if r[col["status"]] in ("dispatched", "assigned", "in_progress", "closed"):
            assert r[col["unit_id"]] and r[col["unit_path"]].endswith(r[col["unit_id"]] + "/")
            assert r[col["due_at"]] > r[col["dispatched_at"]] >= r[col["received_at"]]
        if r[col["status"]] == "new":
            assert r[col["unit_id"]] is None
    codes = [r[col["code"]] for r in rows]
    assert len(set(codes)) == len(codes)


def _reference(bench):
    """A Reference without a database, enough for ``generate``."""
    from types import SimpleNamespace

    top = [SimpleNamespace(id=f"t{i}", path=f"/t{i}/", name=f"Sở {i}") for i in range(3)]
    children = {t.id: [SimpleNamespace(id=f"{t.id}c", path=f"{t.path}{t.id}c/", name="Phòng")] for t in top}
    units = top + [c for t in top for c in children[t.id]]
    cats = [(f"c{i}", 72) for i in range(6)]
    return bench.Reference(org="o1", org2="o2", units=units, top=top, children=children,
                           managers={u.id: "m" for u in units}, specialists={u.id: [f"s-{u.id}"] for u in units},
                           coordinators=["k1"], categories=cats, unit_of_category={c: top[i % 3].id
                                                                                    for i, (c, _) in enumerate(cats)},
                           areas=["a1", "a2"], org2_category="c-o2", names={})
