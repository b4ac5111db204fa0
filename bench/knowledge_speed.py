"""Search speed of the knowledge base at scale (docs/BENCHMARKS.md): the bundled corpus replicated to
100,000 procedures, imported through the product's importer (rows, answers and index written in the
same committed batches), then 1- to 8-word queries in both modes, on SQLite (a file) and on a
throw-away PostgreSQL cluster (tests/pg.py).

    .venv/bin/python bench/knowledge_speed.py                         # 100,000 procedures, both databases
    .venv/bin/python bench/knowledge_speed.py --n 20000 --db sqlite --queries 20

Queries are runs of 1 to 8 consecutive words cut from random procedure titles (the same seed, so
the same queries on both databases), in Vietnamese as written for both modes and, for the
approximate mode, also without diacritics; each is timed end to end through
``search_procedures`` (page of 20 with snippets) in one read session, after a warm-up.
Targets: p95 ≤ 30 ms embedded, ≤ 50 ms PostgreSQL.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import unicodedata
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KETNOI_DATA_DIR", tempfile.mkdtemp(prefix="ketnoi-bench-data-"))

from sqlalchemy import create_engine, text

from ketnoi.bootstrap import prepare
from ketnoi.db.session import Database
from ketnoi.identity.models import Organization
from ketnoi.knowledge import search
from ketnoi.knowledge.importer import import_jsonl
from ketnoi.knowledge.search import analysis as A
from ketnoi.settings import get_settings

DATA = ROOT / "src" / "ketnoi" / "knowledge" / "data" / "procedures.jsonl.gz"
TARGET = {"sqlite": 30.0, "postgresql": 50.0}


def strip_diacritics(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn").replace("đ", "d").replace("Đ", "D")


def replicate(n: int, out: Path) -> None:
    """The corpus repeated to ``n`` lines; copies get codes '<code>-r<k>'."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(n):
            obj = json.loads(lines[i % len(lines)])
            k = i // len(lines)
            if k:
                obj["ma_thu_tuc"] = f"{obj['ma_thu_tuc']}-r{k}"
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def make_queries(per_length: int, seed: int = 2026) -> dict[int, list[str]]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        titles = [json.loads(line)["ten_thu_tuc"] for line in f]
    rnd = random.Random(seed)
    out: dict[int, list[str]] = {}
    for k in range(1, 9):
        qs: list[str] = []
        while len(qs) < per_length:
            words = A.tokens(A.normalize(rnd.choice(titles)))
            if len(words) >= k:
                i = rnd.randint(0, len(words) - k)
                qs.append(" ".join(words[i:i + k]))
        out[k] = qs
    return out


@contextmanager
def database(kind: str, workdir: Path):
    if kind == "sqlite":
        path = workdir / "kb.sqlite3"
        db = Database(f"sqlite:///{path}")
        try:
            prepare(get_settings(), db)
            yield db, path
        finally:
            db.dispose()
        return
    from tests.pg import PgCluster

    cluster = PgCluster().start()
    try:
        eng = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("CREATE DATABASE kb"))
        eng.dispose()
        db = Database(cluster.url("kb"))
        try:
            prepare(get_settings(), db)
            yield db, None
        finally:
            db.dispose()
    finally:
        cluster.stop()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def time_queries(db: Database, org: str, queries: dict[int, list[str]], mode: str, strip: bool) -> dict:
    per_len: dict[int, list[float]] = {}
    with db.session() as s:
        for q in [q for qs in queries.values() for q in qs][:40]:  # warm-up
            search.search_procedures(s, org, strip_diacritics(q) if strip else q, mode=mode)
        for k, qs in queries.items():
            for q in qs:
                q = strip_diacritics(q) if strip else q
                t = time.perf_counter()
                search.search_procedures(s, org, q, mode=mode)
                per_len.setdefault(k, []).append((time.perf_counter() - t) * 1000)
    every = [v for vs in per_len.values() for v in vs]
    return {"all": every, "per_len": per_len}


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="procedures (default 100,000)")
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--queries", type=int, default=50, help="queries per word count and mode (default 50)")
    ap.add_argument("--batch", type=int, default=500, help="import batch size")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ketnoi-bench-kb-"))
    try:
        return run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> int:
    source = workdir / "procedures.jsonl.gz"
    started = time.monotonic()
    replicate(args.n, source)
    queries = make_queries(args.queries)
    print(f"# knowledge search speed: {args.n:,} procedures; {platform.node()}, {os.cpu_count()} CPU, "
          f"Python {platform.python_version()}; load average at start {loadavg()}")
    summary = []
    for kind in args.db.split(","):
        with database(kind, workdir) as (db, path):
            with db.session() as s:
                org = Organization(code="BENCH", name="Tỉnh đo đạc")
                s.add(org)
                s.flush()
                org_id = org.id
            t0 = time.perf_counter()
            last = [t0]

            def progress(r, kind=kind, t0=t0, last=last):
                if time.perf_counter() - last[0] > 60 or r.read == args.n:
                    last[0] = time.perf_counter()
                    print(f"  {kind}: {r.read:,} imported, {r.read / (last[0] - t0):.0f}/s", flush=True)

            res = import_jsonl(db.session, source, org_id, progress=progress, batch_size=args.batch)
            took = time.perf_counter() - t0
            size = ""
            if path is not None:
                size = f", database file {path.stat().st_size / 1e9:.2f} GB"
                with open(path, "rb") as f:  # the file in the OS cache, as on a warm server
                    while f.read(1 << 24):
                        pass
            else:
                with db.session() as s:
                    size = ", index table " + s.execute(text(
                        "SELECT pg_size_pretty(pg_total_relation_size('knowledge_search_docs'))")).scalar()
            print(f"\n## {kind}: imported and indexed {res.inserted:,} procedures in {took:.0f} s "
                  f"= {res.inserted / took:.0f} procedures/s (rows, answers and index, committed every "
                  f"{args.batch}){size}; load average {loadavg()}")
            print("\n| mode | queries | p50 ms | p95 ms | p99 ms | max ms |")
            print("|---|---|---|---|---|---|")
            for mode, strip in (("approximate", False), ("approximate", True), ("exact", False)):
                r = time_queries(db, org_id, queries, mode, strip)
                label = f"{mode}{', no diacritics' if strip else ''}"
                a = r["all"]
                print(f"| {label} | {len(a)} | {pct(a, 50):.1f} | {pct(a, 95):.1f} | {pct(a, 99):.1f} | "
                      f"{max(a):.1f} |", flush=True)
                summary.append((kind, label, pct(a, 95)))
                detail = ", ".join(f"{k} w: {pct(v, 50):.0f}/{pct(v, 95):.0f}" for k, v in r["per_len"].items())
                print(f"|  p50/p95 by words | {detail} | | | | |")
            print(f"\nload average after {kind}: {loadavg()}")
    print("\n| database | mode | p95 ms | target |")
    print("|---|---|---|---|")
    for kind, label, p95 in summary:
        print(f"| {kind} | {label} | {p95:.1f} | ≤ {TARGET[kind]:.0f} {'✓' if p95 <= TARGET[kind] else '✗'} |")
    print(f"\ntotal run {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
