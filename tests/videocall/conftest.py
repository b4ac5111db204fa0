"""Video-call fixtures: one real Janus per test module, and a client of an app wired to it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from ketnoi.videocall.signing import signed_headers
from tests.conftest import login
from tests.videocall.harness import (
    JANUS_MISSING,
    Switchboard,
    start_janus,
    stop_janus,
    switchboard,
    use_janus,
)


@pytest.fixture(scope="module")
def janus():
    if JANUS_MISSING:
        pytest.skip("Janus (Debian package 'janus') missing")
    server = start_janus()
    yield server
    stop_janus(server)


@dataclass
class Desk:
    """The test's switchboard and ways to act on it through the API."""

    client: object
    world: object
    board: Switchboard

    def signed(self, method: str, path: str, payload=None, *, headers=None, **kw):
        body = b"" if payload is None else json.dumps(payload).encode()
        h = signed_headers(self.board.key_id, self.board.secret, method, path, "", body, **kw)
        h.update(headers or {})
        if body:
            h["Content-Type"] = "application/json"
        return self.client.request(method, path, content=body, headers=h)

    def start(self, caller_id: str = "NV-1", unit: str = "HN", **extra):
        payload = {"hotline": "1022", "caller": {"id": caller_id, "name": f"Người gọi {caller_id}", "unit": unit},
                   **extra}
        return self.signed("POST", "/api/v1/videocall/calls", payload)

    def agent(self, username: str, status: str = "available") -> dict[str, str]:
        h = login(self.client, username)
        r = self.client.post("/api/v1/videocall/agent/status", json={"status": status}, headers=h)
        assert r.status_code == 200, r.text
        return h

    @property
    def runtime(self):
        return self.client.app.state.videocall


@pytest.fixture
def desk_factory(client, world, janus, monkeypatch):
    use_janus(monkeypatch, janus)

    def make(**kw) -> Desk:
        return Desk(client, world, switchboard(world, **kw))

    return make
