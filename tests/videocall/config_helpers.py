"""A partner's signed client and configuration objects for the configuration API and pages tests
(and the permission matrix's path parameters)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.signing import signed_headers
from tests.factory import SYSTEM

API = "/api/v1/videocall"


@dataclass
class PartnerClient:
    """Sends requests signed with one partner's key (the scheme of VC-13)."""

    client: object
    key_id: str
    secret: str
    partner_id: str

    def __call__(self, method: str, path: str, payload=None, *, headers=None, tamper: bool = False):
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        path, _, query = path.partition("?")
        h = signed_headers(self.key_id, self.secret, method, path, query, body)
        if tamper:
            body = body.replace(b"a", b"b") if body else b"{}"
        h.update(headers or {})
        if payload is not None:
            h["Content-Type"] = "application/json"
        return self.client.request(method, path + (f"?{query}" if query else ""), content=body, headers=h)


def partner_client(client, database, organization_id: str, code: str = "MSALE") -> PartnerClient:
    with database.session() as s:
        partner, secret = config.create_partner(s, SYSTEM, S.PartnerIn(code=code, name=f"Đối tác {code}",
                                                                        organization_id=organization_id))
        return PartnerClient(client, partner.key_id, secret, partner.id)


def config_objects(database, organization_id: str, user_id: str) -> dict[str, str]:
    """A group, a queue, a hotline, an agent (of ``user_id``) and a partner of the organization."""
    with database.session() as s:
        g = config.save_group(s, SYSTEM, S.GroupIn(code="CFG", name="Nhóm cấu hình"), organization_id=organization_id)
        q = config.save_queue(s, SYSTEM, S.QueueIn(code="CFG", name="Hàng đợi cấu hình", group_ids=[g.id]),
                              organization_id=organization_id)
        h = config.save_hotline(s, SYSTEM, S.HotlineIn(number="CFG-1", name="Hotline cấu hình", queue_id=q.id),
                                organization_id=organization_id)
        a = config.save_agent(s, SYSTEM, S.AgentIn(user_id=user_id, display_name="ĐTV cấu hình", group_ids=[g.id]))
        partner, _ = config.create_partner(s, SYSTEM, S.PartnerIn(code="CFG", name="Đối tác cấu hình",
                                                                   organization_id=organization_id))
        return {"vc_group_id": g.id, "vc_queue_id": q.id, "vc_hotline_id": h.id, "vc_agent_id": a.id,
                "vc_partner_id": partner.id}
