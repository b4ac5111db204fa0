"""Index and rows change together or not at all: a failure between the database write and the
index update (or right after the index update, before commit) rolls both back — for create, update
and delete, through the engine's interface and through the content service that calls it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ketnoi.knowledge import search
from ketnoi.knowledge.models import Answer, KnowledgeEvent, Procedure
from tests.factory import SYSTEM


class Boom(RuntimeError):
    pass


def backend_class(database):
    with database.session() as s:
        return type(search.backend_for(s))


def fail_before(monkeypatch, name):
    """The index function raises before touching the index (rows already written and flushed)."""
    def boom(*_a, **_k):
        raise Boom(name)
    monkeypatch.setattr(search, name, boom)


def fail_after(monkeypatch, database, method):
    """The backend does its index writes, then raises (a crash between index update and commit)."""
    cls = backend_class(database)
    original = getattr(cls, method)

    def boom(self, *a, **k):
        original(self, *a, **k)
        raise Boom(method)
    monkeypatch.setattr(cls, method, boom)


def hits(database, org, q, mode="approximate"):
    with database.session() as s:
        return [h.code for h in search.search_procedures(s, org, q, mode=mode).items]


def index_rows(database):
    from ketnoi.knowledge.search.tables import docs

    with database.session() as s:
        return s.scalar(select(func.count()).select_from(docs))


def new_procedure(s, org, code="9.000001", title="Cấp phép bắn pháo hoa Xanadu"):
    p = Procedure(organization_id=org, code=code, title=title, status="published")
    p.answers.append(Answer(title="Trình tự thực hiện", content="<p>Nộp hồ sơ tại Ủy ban nhân dân xã.</p>"))
    s.add(p)
    s.flush()
    return p


def create_committed(database, org):
    with database.session() as s:
        p = new_procedure(s, org)
        search.index_procedure(s, p)
        return p.id


@pytest.mark.parametrize("where", ["before", "after"])
def test_create_rolls_back_row_and_index(database, kb_org, monkeypatch, where):
    if where == "before":
        fail_before(monkeypatch, "index_procedure")
    else:
        fail_after(monkeypatch, database, "upsert")
    with pytest.raises(Boom), database.session() as s:
        p = new_procedure(s, kb_org)
        search.index_procedure(s, p)
    monkeypatch.undo()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Procedure)) == 0
    assert index_rows(database) == 0
    assert hits(database, kb_org, "xanadu") == [] and hits(database, kb_org, "pháo hoa Xanadu", "exact") == []
    # and the same write, not failing, shows up in both
    create_committed(database, kb_org)
    assert hits(database, kb_org, "xanadu") == ["9.000001"] == hits(database, kb_org, "pháo hoa", "exact")


@pytest.mark.parametrize("where", ["before", "after"])
def test_update_rolls_back_row_and_index(database, kb_org, monkeypatch, where):
    pid = create_committed(database, kb_org)
    if where == "before":
        fail_before(monkeypatch, "index_procedure")
    else:
        fail_after(monkeypatch, database, "upsert")
    with pytest.raises(Boom), database.session() as s:
        p = s.get(Procedure, pid)
        p.title = "Cấp phép thả đèn trời Yokozuna"
        p.answers[0].content = "<p>Nộp hồ sơ trực tuyến tại cổng Yokozuna.</p>"
        s.flush()
        search.index_procedure(s, p)
    monkeypatch.undo()
    with database.session() as s:
        assert s.get(Procedure, pid).title == "Cấp phép bắn pháo hoa Xanadu"
    assert hits(database, kb_org, "xanadu") == ["9.000001"]
    assert hits(database, kb_org, "yokozuna") == [] and hits(database, kb_org, "đèn trời", "exact") == []
    with database.session() as s:
        p = s.get(Procedure, pid)
        p.title = "Cấp phép thả đèn trời Yokozuna"
        s.flush()
        search.index_procedure(s, p)
    assert hits(database, kb_org, "yokozuna") == ["9.000001"] and hits(database, kb_org, "xanadu") == []
    assert index_rows(database) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_delete_rolls_back_row_and_index(database, kb_org, monkeypatch, where):
    pid = create_committed(database, kb_org)
    if where == "before":
        fail_before(monkeypatch, "unindex_procedure")
    else:
        fail_after(monkeypatch, database, "remove")
    with pytest.raises(Boom), database.session() as s:
        s.delete(s.get(Procedure, pid))
        s.flush()
        search.unindex_procedure(s, pid)
    monkeypatch.undo()
    with database.session() as s:
        assert s.get(Procedure, pid) is not None
    assert hits(database, kb_org, "xanadu") == ["9.000001"] == hits(database, kb_org, "Xanadu", "exact")
    with database.session() as s:
        s.delete(s.get(Procedure, pid))
        s.flush()
        search.unindex_procedure(s, pid)
    assert hits(database, kb_org, "xanadu") == [] and index_rows(database) == 0


def test_event_create_rolls_back(database, kb_org, monkeypatch):
    fail_after(monkeypatch, database, "upsert")
    with pytest.raises(Boom), database.session() as s:
        e = KnowledgeEvent(organization_id=kb_org, title="Ngày hội việc làm Xanadu", place="Nhà văn hóa")
        s.add(e)
        s.flush()
        search.index_event(s, e)
    monkeypatch.undo()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(KnowledgeEvent)) == 0
        assert search.search_events(s, kb_org, "xanadu").total == 0
        e = KnowledgeEvent(organization_id=kb_org, title="Ngày hội việc làm Xanadu", place="Nhà văn hóa")
        s.add(e)
        s.flush()
        search.index_event(s, e)
    with database.session() as s:
        page = search.search_events(s, kb_org, "ngay hoi viec lam")
        assert [h.title for h in page.items] == ["Ngày hội việc làm Xanadu"]
        assert "<mark>Ngày hội việc làm</mark>" in page.items[0].snippet


def test_through_the_content_service(database, kb_org, monkeypatch):
    """The service writes, flushes, then indexes in its transaction: a failing index call undoes
    the create, the update and the delete (audit rows included)."""
    from ketnoi.audit.models import AuditEntry
    from ketnoi.knowledge import schemas as S
    from ketnoi.knowledge import service

    data = S.ProcedureIn(code="9.000002", title="Cấp phép bắn pháo hoa Xanadu", organization_id=kb_org,
                         answer=S.AnswerIn(title="Trình tự", content="Nộp hồ sơ tại xã."))

    def audit_count():
        with database.session() as s:
            return s.scalar(select(func.count()).select_from(AuditEntry))

    audits = audit_count()
    fail_before(monkeypatch, "index_procedure")
    with pytest.raises(Boom), database.session() as s:
        service.create_procedure(s, SYSTEM, data)
    monkeypatch.undo()
    assert audit_count() == audits and hits(database, kb_org, "xanadu") == []
    with database.session() as s:
        pid = service.create_procedure(s, SYSTEM, data).id
    assert hits(database, kb_org, "xanadu") == ["9.000002"]

    fail_after(monkeypatch, database, "upsert")
    with pytest.raises(Boom), database.session() as s:
        service.update_procedure(s, SYSTEM, pid, S.ProcedurePatch(title="Thả đèn trời Yokozuna"))
    monkeypatch.undo()
    assert hits(database, kb_org, "yokozuna") == [] and hits(database, kb_org, "xanadu") == ["9.000002"]

    fail_after(monkeypatch, database, "remove")
    with pytest.raises(Boom), database.session() as s:
        service.delete_procedure(s, SYSTEM, pid)
    monkeypatch.undo()
    with database.session() as s:
        assert s.get(Procedure, pid).title == "Cấp phép bắn pháo hoa Xanadu"
    assert hits(database, kb_org, "xanadu") == ["9.000002"]
