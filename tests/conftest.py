"""Test harness: every test gets a fresh, migrated database — SQLite by default, PostgreSQL when
KETNOI_TEST_DATABASE=postgresql (a throw-away cluster started here) — and an app on it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="ketnoi-test-"))
os.environ.setdefault("KETNOI_DATA_DIR", str(_TMP / "data"))
os.environ["KETNOI_ARGON2_TIME_COST"] = "1"  # fast hashes in tests; production keeps RFC 9106 costs
os.environ["KETNOI_ARGON2_MEMORY_KIB"] = "1024"
os.environ.pop("KETNOI_DATABASE_URL", None)
os.environ.pop("KETNOI_REDIS_URL", None)

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ketnoi.settings import get_settings  # noqa: E402

BACKEND = os.environ.get("KETNOI_TEST_DATABASE", "sqlite")
PASSWORD = "Mat-khau-2026!"
_counter = itertools.count()


def pytest_report_header(config):
    return f"ketnoi test database: {BACKEND}"


@pytest.fixture(scope="session")
def template_url():
    """Migrate once into a template; each test copies it (file copy or CREATE DATABASE … TEMPLATE)."""
    from ketnoi.bootstrap import prepare
    from ketnoi.db.session import Database

    settings = get_settings()
    if BACKEND == "postgresql":
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        eng = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("CREATE DATABASE ketnoi_template"))
        eng.dispose()
        db = Database(cluster.url("ketnoi_template"))
        prepare(settings, db)
        db.dispose()
        yield ("postgresql", cluster)
        cluster.stop()
    else:
        path = _TMP / "template.sqlite3"
        db = Database(f"sqlite:///{path}")
        prepare(settings, db)
        db.dispose()
        yield ("sqlite", path)
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture
def db_url(template_url):
    kind, ref = template_url
    n = next(_counter)
    if kind == "postgresql":
        name = f"t{os.getpid()}_{n}"
        eng = create_engine(ref.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE ketnoi_template'))
        eng.dispose()
        yield ref.url(name)
        eng = create_engine(ref.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()
    else:
        path = _TMP / f"test-{n}.sqlite3"
        shutil.copy(ref, path)
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def database(db_url):
    from ketnoi.db.session import Database

    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def _reset_throttle():
    from ketnoi.identity.auth import ip_throttle

    ip_throttle.reset()
    yield
    ip_throttle.reset()


@pytest.fixture
def app(database):
    from ketnoi.app import create_app

    return create_app(get_settings(), database, background=False)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def world(database):
    """Two organizations with departments and users, built through the services."""
    from tests.factory import World

    return World(database)


def login(client, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# Browser fixtures live in one place for the whole run: a second session-scoped Playwright
# instance (e.g. re-declared in another conftest) would fail inside the first one's event loop.
from tests.browser_fixtures import browser, live_server, new_page  # noqa: E402,F401
