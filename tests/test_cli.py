"""The `ketnoi` command line: help on every command, migrations, admin creation, demo data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BIN = os.path.join(os.path.dirname(sys.executable), "ketnoi")


def run(*args, env_extra=None, input_text=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, input=input_text, timeout=120)


@pytest.mark.parametrize("args", [[], ["serve"], ["demo"], ["db"], ["db", "upgrade"], ["admin"],
                                  ["admin", "create"]])
def test_help_everywhere(args):
    r = run(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_db_upgrade_admin_create_and_demo(tmp_path, db_url):
    env = {"KETNOI_DATA_DIR": str(tmp_path), "KETNOI_DATABASE_URL": db_url}
    r = run("db", "upgrade", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "phiên bản" in r.stdout
    r = run("admin", "create", "quantri2", "--password", "ngan", env_extra=env)
    assert r.returncode == 1 and "Mật khẩu" in r.stderr
    r = run("admin", "create", "quantri2", "--password", "Rat-Manh-2026!", env_extra=env)
    assert r.returncode == 0, r.stderr
    r = run("admin", "create", "quantri2", "--password", "Rat-Manh-2026!", env_extra=env)
    assert r.returncode == 1 and "đã tồn tại" in r.stderr
    r = run("demo", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "dieuphoi1" in r.stdout
    again = run("demo", env_extra=env)  # idempotent
    assert again.returncode == 0
