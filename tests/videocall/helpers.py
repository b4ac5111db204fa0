"""Real video-call objects of an organization for the permission matrix, built through the services."""

from __future__ import annotations

from types import SimpleNamespace

from ketnoi.settings import get_settings
from ketnoi.videocall import config, service
from ketnoi.videocall import schemas as S
from ketnoi.videocall.runtime import Runtime
from tests.factory import SYSTEM


def videocall_objects(database, organization_id: str) -> dict[str, str]:
    """A hotline, its queue and group, a waiting file, and one call. The call is started on a runtime
    without any Janus instance, so it is the real record of a call refused for 'media unavailable'."""
    rt = Runtime(SimpleNamespace(state=SimpleNamespace(database=database)), get_settings())
    with database.session() as s:
        group = config.save_group(s, SYSTEM, S.GroupIn(code="PM", name="Nhóm ma trận"), organization_id=organization_id)
        f = config.add_media_file(s, SYSTEM, "cho.wav", "audio/wav", b"RIFF0000WAVE", organization_id=organization_id)
        queue = config.save_queue(s, SYSTEM, S.QueueIn(code="PM", name="Hàng đợi ma trận", group_ids=[group.id],
                                                       waiting_file_id=f.id), organization_id=organization_id)
        config.save_hotline(s, SYSTEM, S.HotlineIn(number="1022", name="Tổng đài", queue_id=queue.id),
                            organization_id=organization_id)
        partner, _ = config.create_partner(s, SYSTEM, S.PartnerIn(code="PM", name="Đối tác ma trận",
                                                                   organization_id=organization_id))
        partner_id = partner.id
    with database.session() as s:
        try:
            service.start_call(s, rt, organization_id=organization_id, partner=s.get(type(partner), partner_id),
                               data=S.StartCallIn(hotline="1022", caller=S.CallerIn(id="PM-1")), auth_method="hmac",
                               caller_key="matrix:PM-1")
        except service.Unavailable:
            pass
    with database.session() as s:
        from sqlalchemy import select

        from ketnoi.videocall.models import VcCall

        call_id = s.scalar(select(VcCall.id).where(VcCall.caller_ref == "PM-1"))
    return {"video_call_id": call_id, "media_file_id": f.id}
