"""Demo organization: a province's 1022 platform with departments, users of every role and enough
sample data for each screen. Idempotent: loading twice changes nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ketnoi.db.session import Database
from ketnoi.identity import schemas as S
from ketnoi.identity.models import Department, Organization, PermissionGroup, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import create_department, create_organization, update_organization
from ketnoi.identity.users import create_user

DEMO_PASSWORD = "Ketnoi@2026"
ORG_CODE = "DEMO"

# (code, name, parent code)
DEPARTMENTS = [
    ("VP-UBND", "Văn phòng UBND tỉnh", None),
    ("TT-1022", "Trung tâm Tiếp nhận phản ánh 1022", "VP-UBND"),
    ("SO-TNMT", "Sở Tài nguyên và Môi trường", None),
    ("TNMT-MT", "Phòng Quản lý Môi trường", "SO-TNMT"),
    ("TNMT-DD", "Phòng Đất đai", "SO-TNMT"),
    ("SO-GTVT", "Sở Giao thông vận tải", None),
    ("GTVT-HT", "Phòng Quản lý kết cấu hạ tầng giao thông", "SO-GTVT"),
    ("SO-YTE", "Sở Y tế", None),
    ("UBND-PHUONG-1", "UBND Phường Trung Tâm", None),
]

# (username, code, full name, phone, email, department code, groups)
USERS = [
    ("quantri", "QT01", "Nguyễn Văn Quản", "0912000001", "quantri@demo.ketnoi.vn", "VP-UBND", ["QUAN_TRI_TO_CHUC"]),
    ("dieuphoi1", "DP01", "Trần Thị Điều", "0912000002", "dieuphoi1@demo.ketnoi.vn", "TT-1022", ["DIEU_PHOI_VIEN"]),
    ("dieuphoi2", "DP02", "Lê Văn Phối", "0912000003", "dieuphoi2@demo.ketnoi.vn", "TT-1022", ["DIEU_PHOI_VIEN"]),
    ("lanhdao.tnmt", "LD01", "Phạm Minh Lãnh", "0912000004", "lanhdao.tnmt@demo.ketnoi.vn", "SO-TNMT", ["LANH_DAO"]),
    ("chuyenvien.mt", "CV01", "Hoàng Thị Chuyên", "0912000005", "cv.mt@demo.ketnoi.vn", "TNMT-MT", ["CHUYEN_VIEN"]),
    ("chuyenvien.dd", "CV02", "Vũ Văn Viên", "0912000006", "cv.dd@demo.ketnoi.vn", "TNMT-DD", ["CHUYEN_VIEN"]),
    ("lanhdao.gtvt", "LD02", "Đặng Quốc Đạo", "0912000007", "lanhdao.gtvt@demo.ketnoi.vn", "SO-GTVT", ["LANH_DAO"]),
    ("chuyenvien.gt", "CV03", "Bùi Thị Giao", "0912000008", "cv.gt@demo.ketnoi.vn", "GTVT-HT", ["CHUYEN_VIEN"]),
]

SYSTEM = Principal(user_id="", username="demo", full_name="Dữ liệu mẫu", organization_id=None, department_id=None,
                   is_sysadmin=True)


def load_demo(db: Database) -> str:
    with db.session() as s:
        org = s.scalar(select(Organization).where(Organization.code == ORG_CODE))
        if org is None:
            groups = s.scalars(select(PermissionGroup)).all()
            org = create_organization(s, SYSTEM, S.OrganizationIn(code=ORG_CODE, name="UBND tỉnh Demo (tổng đài 1022)",
                                                                  group_ids=[g.id for g in groups]))
        depts: dict[str, Department] = {d.code: d for d in s.scalars(select(Department).where(
            Department.organization_id == org.id))}
        for code, name, parent in DEPARTMENTS:
            if code not in depts:
                depts[code] = create_department(s, SYSTEM, S.DepartmentIn(
                    code=code, name=name, organization_id=org.id, parent_id=depts[parent].id if parent else None))
        group_ids = {g.code: g.id for g in s.scalars(select(PermissionGroup))}
        for username, code, name, phone, email, dept, groups in USERS:
            if s.scalar(select(User.id).where(User.username == username)) is None:
                create_user(s, SYSTEM, S.UserIn(
                    code=code, username=username, full_name=name, phone=phone, email=email, password=DEMO_PASSWORD,
                    organization_id=org.id, department_id=depts[dept].id, group_ids=[group_ids[g] for g in groups],
                    must_change_password=False))
        if org.manager_id is None:
            manager = s.scalar(select(User).where(User.username == "quantri"))
            update_organization(s, SYSTEM, org.id, S.OrganizationPatch(manager_id=manager.id))
        org_id = org.id
    extra = _load_domains(db, org_id, depts)
    lines = ["Đã nạp dữ liệu mẫu: tổ chức 'UBND tỉnh Demo', " f"{len(DEPARTMENTS)} đơn vị, {len(USERS)} người dùng.",
             *extra, f"Các tài khoản mẫu (mật khẩu chung '{DEMO_PASSWORD}'):"]
    lines += [f"  {u[0]:<16} {u[2]} – {', '.join(u[6])}" for u in USERS]
    return "\n".join(lines)


# sample reports: (title, content, channel, category code, citizen, phone, status path)
SAMPLE_REPORTS = [
    ("Rác thải ùn ứ tại chợ Hàn", "Rác tồn đọng 3 ngày, bốc mùi, ảnh hưởng tiểu thương.", "phone", "MT-RAC",
     "Nguyễn Văn An", "0905111001", "new"),
    ("Đèn tín hiệu giao thông hỏng ngã tư Lê Duẩn", "Đèn đỏ không hoạt động từ sáng nay, rất nguy hiểm.", "app",
     "GT-DENTINHIEU", "Trần Thị Bích", "0905111002", "dispatched"),
    ("Ổ gà lớn trên đường Nguyễn Văn Linh", "Ổ gà sâu gần 20 cm trước số 120, xe máy dễ té ngã.", "zalo", "GT-DUONG",
     "Lê Văn Cường", "0905111003", "in_progress"),
    ("Tiếng ồn karaoke sau 22 giờ", "Quán karaoke hát đến nửa đêm hằng ngày.", "sms", "MT-TIENGON", "Phạm Thị Dung",
     "0905111004", "closed"),
]


def _load_domains(db: Database, org_id: str, depts: dict) -> list[str]:
    """Areas, default categories, the administrative-procedure corpus and a few reports."""
    from ketnoi.catalog.areas_data import load_areas
    from ketnoi.catalog.defaults import create_from_defaults
    from ketnoi.catalog.models import Area, Category
    from ketnoi.knowledge.importer import import_jsonl
    from ketnoi.knowledge.models import Procedure
    from ketnoi.reports import schemas as RS
    from ketnoi.reports.models import Report
    from ketnoi.reports.service import create_report, transition
    from ketnoi.reports.workflow import Action

    out = []
    with db.session() as s:
        if not s.scalar(select(Area.id).limit(1)):
            res = load_areas(s, "2025")
            out.append(res.summary())
        if not s.scalar(select(Category.id).where(Category.organization_id == org_id).limit(1)):
            p = Principal(user_id="", username="demo", full_name="Dữ liệu mẫu", organization_id=org_id,
                          department_id=None, is_sysadmin=False, permissions=frozenset({"catalog.categories.write"}))
            create_from_defaults(s, p, None)
            out.append("Bộ lĩnh vực mặc định đã được tạo.")
    with db.session() as s:
        has_kb = s.scalar(select(Procedure.id).where(Procedure.organization_id == org_id).limit(1))
    if not has_kb:
        corpus = Path(__file__).resolve().parent / "knowledge" / "data" / "procedures.jsonl.gz"
        res = import_jsonl(db.session, corpus, org_id)
        out.append(f"Cơ sở tri thức: {res.inserted} thủ tục hành chính (nguồn: Cổng DVC quốc gia).")
    # telephony: extensions 1001–1006, loopback trunk, DID 1022 → welcome prompt → 1001, applied
    from ketnoi.telephony.pbx.demo import provision_demo

    out += provision_demo(db, org_id)
    with db.session() as s:
        if s.scalar(select(Report.id).where(Report.organization_id == org_id).limit(1)):
            return out
        users = {u.username: u for u in s.scalars(select(User).where(User.organization_id == org_id))}
        from ketnoi.identity.rbac import principal_for

        coord = principal_for(s, users["dieuphoi1"])
        cats = {c.code: c.id for c in s.scalars(select(Category).where(Category.organization_id == org_id))}
        for title, content, channel, cat, name, phone, target in SAMPLE_REPORTS:
            r = create_report(s, coord, RS.ReportIn(title=title, content=content, channel=channel, citizen_name=name,
                                                   citizen_phone=phone, category_id=cats.get(cat)))
            if target == "new":
                continue
            unit = depts["SO-GTVT"] if cat.startswith("GT") else depts["SO-TNMT"]
            transition(s, coord, r, RS.TransitionIn(action=Action.DISPATCH, unit_id=unit.id))
            if target == "dispatched":
                continue
            manager = principal_for(s, users["lanhdao.gtvt" if cat.startswith("GT") else "lanhdao.tnmt"])
            specialist_name = "chuyenvien.gt" if cat.startswith("GT") else "chuyenvien.mt"
            if not cat.startswith("GT"):
                transition(s, manager, r, RS.TransitionIn(action=Action.ASSIGN_SUBUNIT, unit_id=depts["TNMT-MT"].id))
            transition(s, manager, r, RS.TransitionIn(action=Action.ASSIGN_SPECIALIST,
                                                      assignee_id=users[specialist_name].id))
            specialist = principal_for(s, users[specialist_name])
            transition(s, specialist, r, RS.TransitionIn(action=Action.START))
            if target == "in_progress":
                continue
            transition(s, specialist, r, RS.TransitionIn(action=Action.SUBMIT_RESULT,
                                                         result="Đã làm việc với chủ quán, cam kết tắt nhạc trước 22 giờ."))
            transition(s, manager, r, RS.TransitionIn(action=Action.APPROVE))
            transition(s, coord, r, RS.TransitionIn(action=Action.CLOSE))
        out.append(f"{len(SAMPLE_REPORTS)} phản ánh mẫu ở các trạng thái khác nhau.")
    return out
