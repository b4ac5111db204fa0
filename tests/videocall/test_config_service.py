"""Rules of videocall/config.py shared by the console pages and the partner API (VC-11, 17, 18): a
system administrator's organization must exist (4xx in Vietnamese, not a database error), deletions are
refused while the object is in use, and group memberships keep a ring order per group."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ketnoi.audit.models import AuditEntry
from ketnoi.core.errors import Conflict, NotFound, ValidationFailed
from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.models import VcGroup, VcHotline, VcMembership
from tests.conftest import login
from tests.factory import SYSTEM
from tests.videocall.config_helpers import API, config_objects


def test_system_administrator_must_name_an_existing_organization(client, world, database):
    with database.session() as s:
        for make in (lambda: config.save_group(s, SYSTEM, S.GroupIn(code="G", name="G"), organization_id="khongco"),
                     lambda: config.save_queue(s, SYSTEM, S.QueueIn(code="Q", name="Q"), organization_id="x" * 65),
                     lambda: config.save_hotline(s, SYSTEM, S.HotlineIn(number="1022", name="H"),
                                                 organization_id="khongco"),
                     lambda: config.add_media_file(s, SYSTEM, "a.wav", "audio/wav", b"RIFF", organization_id="khongco")):
            with pytest.raises(ValidationFailed) as e:
                make()
            assert e.value.detail == "Tổ chức không tồn tại." and e.value.status == 422
        with pytest.raises(ValidationFailed, match="Chọn tổ chức"):
            config.save_group(s, SYSTEM, S.GroupIn(code="G", name="G"))
        assert s.scalar(select(VcGroup.id)) is None
    # the same through the API (no 409/500)
    h = login(client, "root")
    r = client.post(f"{API}/groups", params={"organization_id": "khongco"}, json={"code": "G", "name": "G"}, headers=h)
    assert r.status_code == 422 and "Tổ chức không tồn tại" in r.text


def test_deletes_refused_while_in_use_then_audited(world, database):
    uid = world.user("dtv.xoa", roles=["videocall.answer"])
    ids = config_objects(database, world.org_a, uid)
    with database.session() as s:
        with pytest.raises(Conflict, match="đang nằm trong hàng đợi CFG"):
            config.delete_group(s, SYSTEM, ids["vc_group_id"])
        with pytest.raises(Conflict, match="đang được hotline CFG-1 dùng"):
            config.delete_queue(s, SYSTEM, ids["vc_queue_id"])
        with pytest.raises(NotFound):
            config.delete_hotline(s, SYSTEM, "khongco")
        config.delete_hotline(s, SYSTEM, ids["vc_hotline_id"])
        config.delete_queue(s, SYSTEM, ids["vc_queue_id"])
        config.delete_group(s, SYSTEM, ids["vc_group_id"])  # its membership goes with it
        config.delete_agent(s, SYSTEM, ids["vc_agent_id"])
        s.commit()
        assert s.scalar(select(VcHotline.id)) is None and s.scalar(select(VcMembership.agent_id)) is None
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("videocall.%.deleted"))))
        assert actions == {f"videocall.{k}.deleted" for k in ("hotline", "queue", "group", "agent")}


def test_save_agent_positions_count_per_group(world, database):
    users = [world.user(f"dtv.vt{i}", roles=["videocall.answer"]) for i in range(3)]
    with database.session() as s:
        g1 = config.save_group(s, SYSTEM, S.GroupIn(code="G1", name="G1"), organization_id=world.org_a).id
        g2 = config.save_group(s, SYSTEM, S.GroupIn(code="G2", name="G2"), organization_id=world.org_a).id
        a0 = config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[0], group_ids=[g1, g2]))
        a1 = config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[1], group_ids=[g2, g1]))
        a2 = config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[2], group_ids=[g1]))

        def positions(gid):
            return [(a.id, m.position) for m, a in config.group_members(s, gid)]

        assert positions(g1) == [(a0.id, 0), (a1.id, 1), (a2.id, 2)]
        assert positions(g2) == [(a0.id, 0), (a1.id, 1)]
        # saving again keeps each agent's place; a group joined later puts the agent last there
        config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[0], group_ids=[g2]), a0.id)
        config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[2], group_ids=[g2, g1]), a2.id)
        assert positions(g1) == [(a1.id, 1), (a2.id, 2)]
        assert positions(g2) == [(a0.id, 0), (a1.id, 1), (a2.id, 2)]
        config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[0], group_ids=[g1, g2]), a0.id)
        assert config.agent_ids_of(s, g1) == [a1.id, a2.id, a0.id]
        assert sorted(config.group_ids_of(s, a0.id)) == sorted([g1, g2])
