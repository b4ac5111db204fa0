"""Search quality of the knowledge base on the development questions (docs/BENCHMARKS.md).

    .venv/bin/python bench/knowledge_quality.py                      # SQLite
    .venv/bin/python bench/knowledge_quality.py --db sqlite,postgresql --ablations --check

The bundled corpus (2,642 procedures) is imported through the product's importer into a fresh,
migrated database; each question of ``knowledge/data/queries-dev.jsonl`` is searched in both modes,
once as written and once with every diacritic stripped (đ→d included), and scored against its gold
procedure code(s): recall@1, @5, @10 and MRR@10. Nothing here is tuned per question; the engine's
parameters are module constants. ``--ablations`` switches general techniques off one at a time
(title bigrams, question-word removal, the colloquial thesaurus, title weighting, typo tolerance)
to show what each contributes.
"""

from __future__ import annotations

import argparse
import json
import os
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
from ketnoi.knowledge.search import engine
from ketnoi.settings import get_settings

DATA = ROOT / "src" / "ketnoi" / "knowledge" / "data"
BASELINE = {"r1": 0.86, "mrr": 0.91}  # plain BM25 with accent folding (the baseline)


def strip_diacritics(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn").replace("đ", "d").replace("Đ", "D")


def evaluate(db: Database, org: str, questions: list[dict], mode: str, stripped: bool) -> dict[str, float]:
    r1 = r5 = r10 = mrr = 0.0
    started = time.perf_counter()
    with db.session() as s:
        for q in questions:
            text_ = strip_diacritics(q["question"]) if stripped else q["question"]
            page = search.search_procedures(s, org, text_, mode=mode, page_size=10)
            codes = [h.code for h in page.items]
            rank = next((i for i, c in enumerate(codes) if c in q["gold"]), None)
            if rank is not None:
                r1 += rank == 0
                r5 += rank < 5
                r10 += 1
                mrr += 1 / (rank + 1)
    n = len(questions)
    return {"r1": r1 / n, "r5": r5 / n, "r10": r10 / n, "mrr": mrr / n,
            "ms": (time.perf_counter() - started) * 1000 / n}


@contextmanager
def database(kind: str):
    """A fresh migrated database: a temporary SQLite file, or a throw-away PostgreSQL cluster."""
    if kind == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="ketnoi-bench-"))
        db = Database(f"sqlite:///{workdir / 'kb.sqlite3'}")
        try:
            prepare(get_settings(), db)
            yield db
        finally:
            db.dispose()
            shutil.rmtree(workdir, ignore_errors=True)
        return
    from tests.pg import PgCluster

    cluster = PgCluster().start()
    try:
        eng = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("CREATE DATABASE kb"))
        eng.dispose()
        db = Database(cluster.url("kb"))
        prepare(get_settings(), db)
        try:
            yield db
        finally:
            db.dispose()
    finally:
        cluster.stop()


@contextmanager
def switched_off(name: str):
    """One general technique disabled, for the ablation table."""
    saved = {}

    def patch(obj, attr, value):
        saved[(obj, attr)] = getattr(obj, attr)
        setattr(obj, attr, value)

    if name == "title bigrams":
        patch(engine, "BIGRAM_WEIGHT", 0.0)
    elif name == "question words":
        patch(A, "_PHRASES", {True: [], False: []})
    elif name == "thesaurus":
        patch(A, "_colloquial", list)
    elif name == "title weighting":  # title and body on an equal footing
        patch(engine, "BODY_FACTOR", 1.0)
        patch(engine, "BIGRAM_WEIGHT", 1.0)
    elif name == "typo tolerance":
        patch(engine, "correct_typos", lambda *a, **k: None)
    try:
        yield
    finally:
        for (obj, attr), value in saved.items():
            setattr(obj, attr, value)


def row(label: str, m: dict[str, float]) -> str:
    return (f"| {label} | {m['r1']:.3f} | {m['r5']:.3f} | {m['r10']:.3f} | {m['mrr']:.3f} | {m['ms']:.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="sqlite", help="sqlite, postgresql or both (comma-separated)")
    ap.add_argument("--ablations", action="store_true", help="also switch techniques off one at a time")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the approximate mode beats the baseline")
    args = ap.parse_args()
    questions = [json.loads(line) for line in (DATA / "queries-dev.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    failed = False
    for kind in args.db.split(","):
        with database(kind) as db:
            with db.session() as s:
                org = Organization(code="BENCH", name="Tỉnh đo đạc")
                s.add(org)
                s.flush()
                org_id = org.id
            t0 = time.perf_counter()
            res = import_jsonl(db.session, DATA / "procedures.jsonl.gz", org_id)
            print(f"\n## {kind}: {res.summary()} ({time.perf_counter() - t0:.1f} s); {len(questions)} questions")
            print("\n| mode, questions | recall@1 | recall@5 | recall@10 | MRR@10 | ms/query |")
            print("|---|---|---|---|---|---|")
            results = {}
            for mode in ("approximate", "exact"):
                for stripped in (False, True):
                    m = evaluate(db, org_id, questions, mode, stripped)
                    results[(mode, stripped)] = m
                    print(row(f"{mode}, {'diacritics stripped' if stripped else 'as written'}", m))
            print(f"| baseline: plain BM25 with folding | {BASELINE['r1']:.2f} | | | {BASELINE['mrr']:.2f} | |")
            acc, strip = results[("approximate", False)], results[("approximate", True)]
            ok = (acc["r1"] > BASELINE["r1"] and acc["mrr"] > BASELINE["mrr"]
                  and acc["r1"] - strip["r1"] < 0.02 and acc["mrr"] - strip["mrr"] < 0.02)
            print(f"\napproximate mode beats the baseline and loses < 0.02 without diacritics: {'yes' if ok else 'NO'}")
            failed |= not ok
            if args.ablations:
                print("\n| approximate mode without … | recall@1 | recall@5 | recall@10 | MRR@10 | ms/query |")
                print("|---|---|---|---|---|---|")
                for name in ("title bigrams", "question words", "thesaurus", "title weighting", "typo tolerance"):
                    with switched_off(name):
                        for stripped in (False, True):
                            m = evaluate(db, org_id, questions, "approximate", stripped)
                            print(row(f"{name}, {'stripped' if stripped else 'as written'}", m))
    return 1 if (failed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
