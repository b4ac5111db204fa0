"""Demo organization: a province's 1022 platform with departments, users of every role and enough
sample data for each screen. Idempotent: loading twice changes nothing."""

from __future__ import annotations

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
    lines = ["Đã nạp dữ liệu mẫu: tổ chức 'UBND tỉnh Demo', " f"{len(DEPARTMENTS)} đơn vị, {len(USERS)} người dùng.",
             f"Các tài khoản mẫu (mật khẩu chung '{DEMO_PASSWORD}'):"]
    lines += [f"  {u[0]:<16} {u[2]} – {', '.join(u[6])}" for u in USERS]
    return "\n".join(lines)
