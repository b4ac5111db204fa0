"""`ketnoi catalog load-areas`: help, a full load with counts, idempotence, a bad scheme."""

from __future__ import annotations

from tests.test_cli import run


def test_load_areas_help():
    r = run("catalog", "load-areas", "--help")
    assert r.returncode == 0 and "--scheme" in r.stdout and "--province" in r.stdout


def test_load_areas_command_prints_counts_and_is_idempotent(tmp_path, db_url):
    env = {"KETNOI_DATA_DIR": str(tmp_path), "KETNOI_DATABASE_URL": db_url}
    r = run("catalog", "load-areas", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "cấp 1: 34, cấp 2: 3321; thêm 3355, cập nhật 0, không đổi 0" in r.stdout
    r = run("catalog", "load-areas", "--scheme", "legacy", "--province", "01", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "sơ đồ cũ (3 cấp): cấp 1: 1, cấp 2: 30" in r.stdout
    r = run("catalog", "load-areas", "--scheme", "2025", env_extra=env)
    assert "thêm 0, cập nhật 0, không đổi 3355" in r.stdout
    r = run("catalog", "load-areas", "--scheme", "2030", env_extra=env)
    assert r.returncode == 2 and "2025 hoặc legacy" in r.stderr
