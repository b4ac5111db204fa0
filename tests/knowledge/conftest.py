"""Knowledge-base fixtures: the real procedures corpus imported once per test session (through the
importer, so the index is built the way production builds it) into its own database copied from
the migrated template, and a bare organization for tests that write."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ketnoi.knowledge.importer import ImportResult

CORPUS = Path(__file__).resolve().parents[2] / "src" / "ketnoi" / "knowledge" / "data" / "procedures.jsonl.gz"


def make_organization(database, code: str = "KB-ORG", name: str = "Tỉnh Thử nghiệm") -> str:
    from ketnoi.identity import schemas as S
    from ketnoi.identity.service import create_organization
    from tests.factory import SYSTEM

    with database.session() as s:
        return create_organization(s, SYSTEM, S.OrganizationIn(code=code, name=name)).id


@dataclass
class Corpus:
    db: object  # ketnoi.db.session.Database
    organization_id: str
    other_organization_id: str
    result: ImportResult


@pytest.fixture(scope="session")
def corpus(template_url):
    """The 2,642 procedures of the bundled corpus in organization KB-ORG (read-only for tests);
    a second organization KB-OTHER is left empty."""
    from ketnoi.db.session import Database
    from ketnoi.knowledge.importer import import_jsonl

    kind, ref = template_url
    if kind == "postgresql":
        name = f"kb_corpus_{os.getpid()}"
        eng = create_engine(ref.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE ketnoi_template'))
        eng.dispose()
        url = ref.url(name)
    else:
        path = Path(ref).parent / "knowledge-corpus.sqlite3"
        shutil.copy(ref, path)
        url = f"sqlite:///{path}"
    db = Database(url)
    org = make_organization(db)
    other = make_organization(db, "KB-OTHER", "Tỉnh khác")
    result = import_jsonl(db.session, CORPUS, org)
    yield Corpus(db, org, other, result)
    db.dispose()
    if kind == "postgresql":
        eng = create_engine(ref.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture
def kb_org(database) -> str:
    """An organization in the test's own fresh database."""
    return make_organization(database)
