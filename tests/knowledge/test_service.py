"""Rules of the knowledge service: the rich-text sanitizer and plain-text/SMS rendering, the search
index updated in the same transaction as every write (after flush), audit rows, and files that
follow the transaction (removed on rollback, deleted only after commit)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from ketnoi.audit.models import AuditEntry
from ketnoi.core.errors import ValidationFailed
from ketnoi.db import registry  # noqa: F401  (every mapper, for Procedure.areas)
from ketnoi.knowledge import schemas as S
from ketnoi.knowledge import service
from ketnoi.knowledge.models import Answer, KnowledgeEvent, Procedure
from tests.factory import SYSTEM

PDF = b"%PDF-1.4\n" + b"y" * 50


# --- sanitizer --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dirty, clean", [
    ("<p>Xin chào</p>", "<p>Xin chào</p>"),
    ("<script>alert(1)</script><p>ok</p>", "<p>ok</p>"),
    ("<style>p{}</style>text<iframe src=x>inside</iframe>", "text"),
    ('<p onclick="x()" style="color:red" class="a">t</p>', "<p>t</p>"),
    ('<a href="https://dichvucong.gov.vn/p?a=1&b=2" target="_blank">cổng</a>',
     '<a href="https://dichvucong.gov.vn/p?a=1&amp;b=2" rel="nofollow noopener noreferrer">cổng</a>'),
    ('<a href=" JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
    ('<a href="java\nscript:alert(1)">x</a>', "<a>x</a>"),
    ('<a href="data:text/html,<script>">x</a>', "<a>x</a>"),
    ('<a href="mailto:hotro@1022.vn">thư</a>', '<a href="mailto:hotro@1022.vn" rel="nofollow noopener noreferrer">thư</a>'),
    ("<img src=x onerror=alert(1)><b>đậm</b>", "<b>đậm</b>"),
    ("<div><span>văn bản</span></div>", "văn bản"),
    ("<ul><li>một<li>hai</ul>", "<ul><li>một<li>hai</li></li></ul>"),
    ("<p><strong>mở", "<p><strong>mở</strong></p>"),
    ("</p>lạc<br/>dòng", "lạc<br>dòng"),
    ('<table><tr><td colspan="2" rowspan="x">a</td><th width=3>b</th></tr></table>',
     '<table><tr><td colspan="2">a</td><th>b</th></tr></table>'),
    ("<h1>lớn</h1><h3>vừa</h3><h4>nhỏ</h4>", "lớn<h3>vừa</h3><h4>nhỏ</h4>"),
    ("a &lt;b&gt; &amp; c <i>d</i>", "a &lt;b&gt; &amp; c <i>d</i>"),
    ("<!-- chú thích --><em>e</em>", "<em>e</em>"),
    ("<svg><script>x</script></svg>sau", "sau"),
])
def test_sanitizer(dirty, clean):
    assert service.sanitize_html(dirty) == clean


def test_plain_text_becomes_paragraphs():
    assert service.sanitize_html("Dòng 1\nDòng 2\n\nĐoạn <2> & hết") == \
        "<p>Dòng 1<br>Dòng 2</p><p>Đoạn &lt;2&gt; &amp; hết</p>"
    assert service.sanitize_html("  ") == ""


def test_html_to_text_and_sms():
    text = service.html_to_text("<h3>Hồ sơ</h3><ul><li>Đơn</li><li>CCCD</li></ul><p>Phí:&nbsp; <b>0đ</b></p>")
    assert text == "Hồ sơ\n- Đơn\n- CCCD\nPhí: 0đ"
    long = "Câu thứ nhất rất dài. " * 60
    cut = service.truncate_text(long, 640)
    assert len(cut) <= 640 and cut.endswith("dài.…")
    words = "chữ " * 400
    cut = service.truncate_text(words, 100)
    assert len(cut) <= 100 and cut.endswith("chữ…")
    assert service.truncate_text("ngắn", 640) == "ngắn"


def test_sms_text_is_at_most_640_characters():
    proc = Procedure(title="Cấp lại căn cước", code="1")
    a = Answer(title="Hồ sơ", content="<p>" + "Giấy tờ cần nộp. " * 100 + "</p>")
    a.procedure = proc
    sms = service.sms_text(a)
    assert len(sms) <= 640 and sms.startswith("Cấp lại căn cước – Hồ sơ:\nGiấy tờ cần nộp.") and sms.endswith("…")


# --- the index follows every write, inside the transaction -----------------------------------------
class Recorder:
    def __init__(self):
        self.calls = []

    def index_procedure(self, db, procedure):
        # called after flush: the row and its answers are visible to queries in this transaction
        assert db.scalar(select(Procedure.id).where(Procedure.id == procedure.id)) == procedure.id
        self.calls.append(("index", procedure.id, len(procedure.answers)))

    def unindex_procedure(self, db, procedure_id):
        assert db.get(Procedure, procedure_id) is None
        self.calls.append(("unindex", procedure_id))

    def index_event(self, db, event):
        assert db.scalar(select(KnowledgeEvent.id).where(KnowledgeEvent.id == event.id))
        self.calls.append(("index_event", event.id))

    def unindex_event(self, db, event_id):
        self.calls.append(("unindex_event", event_id))


@pytest.fixture
def engine(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(service, "_engine", lambda: rec)
    return rec


def body(**extra):
    return S.ProcedureIn.model_validate({"code": "1.0", "title": "Đăng ký khai sinh", "answer": {"content": "Nộp"},
                                         **extra})


def test_every_write_updates_the_index_and_the_audit_log(world, database, engine):
    p = SYSTEM
    org = {"organization_id": world.org_a}
    with database.session() as s:
        proc = service.create_procedure(s, p, body(**org))
        pid = proc.id
        a2 = service.add_answer(s, p, pid, S.AnswerIn(content="Lệ phí 0đ")).id
        service.update_answer(s, p, a2, S.AnswerPatch(status=S.Status.HIDDEN))
        service.update_procedure(s, p, pid, S.ProcedurePatch(title="Đăng ký khai sinh lại"))
        service.delete_answer(s, p, a2)
        ev = service.create_event(s, p, S.EventIn(title="Hội chợ", **org)).id
        service.update_event(s, p, ev, S.EventPatch(place="Quảng trường"))
        service.delete_event(s, p, ev)
        service.delete_procedure(s, p, pid)
    assert engine.calls == [("index", pid, 1), ("index", pid, 2), ("index", pid, 2), ("index", pid, 2),
                            ("index", pid, 1), ("index_event", ev), ("index_event", ev), ("unindex_event", ev),
                            ("unindex", pid)]
    with database.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id.in_([pid, ev]))
                                 .order_by(AuditEntry.at)))
    assert actions == ["procedure.created", "answer.created", "answer.updated", "procedure.updated",
                       "answer.deleted", "event.created", "event.updated", "event.deleted", "procedure.deleted"]


def test_a_failed_write_leaves_nothing(world, database, engine):
    p = SYSTEM
    data = body(organization_id=world.org_a,
                answer={"content": "x", "attachment": {"filename": "a.pdf",
                                                       "content_base64": base64.b64encode(PDF).decode()}})
    with pytest.raises(RuntimeError), database.session() as s:
            service.create_procedure(s, p, data)
            assert len(list(service.storage_dir().iterdir())) == 1
            raise RuntimeError("something later in the same transaction failed")
    assert not list(service.storage_dir().iterdir())  # the file went with the rollback
    with database.session() as s:
        assert s.scalar(select(Procedure.id)) is None


def test_files_are_deleted_only_when_the_delete_commits(world, database, engine):
    p = SYSTEM
    with database.session() as s:
        proc = service.create_procedure(s, p, body(organization_id=world.org_a), upload=("mau.pdf", PDF))
        pid, att = proc.id, proc.answers[0].attachments[0].id
    with pytest.raises(RuntimeError), database.session() as s:
            service.delete_procedure(s, p, pid)
            raise RuntimeError("rolled back")
    assert len(list(service.storage_dir().iterdir())) == 1
    with database.session() as s:
        assert service.attachment_path(service.get_attachment(s, p, att)).read_bytes() == PDF
        service.delete_attachment(s, p, att)
    assert not list(service.storage_dir().iterdir())


def test_organization_rules(world, database, engine):
    with pytest.raises(ValidationFailed) as e, database.session() as s:
        service.create_procedure(s, SYSTEM, body())
    assert e.value.errors == [{"field": "organization_id", "message": "Chọn tổ chức."}]
    with pytest.raises(ValidationFailed):
        service.organization_for_read(SYSTEM, "")
