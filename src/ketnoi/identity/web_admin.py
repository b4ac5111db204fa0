"""Console administration pages: organizations, departments, users, permission groups, roles and
sessions (PERM-04…09). Each page reads like its API twin: parse, authorize, call the service."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from ketnoi.core.errors import DomainError
from ketnoi.identity import auth, service, users
from ketnoi.identity import schemas as S
from ketnoi.identity.models import Organization, PermissionGroup, Role
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import groups_allowed
from ketnoi.web.crud import (
    Action,
    Column,
    Field,
    Filter,
    Row,
    bool_filter,
    field_errors,
    form_data,
    list_params,
)
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/admin")
ACTIVE_FILTER = Filter("is_active", "Trạng thái", [("1", "Đang hoạt động"), ("0", "Ngừng hoạt động")])


def _done(url: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?msg={quote(msg)}", status_code=303)


def _badge(ok: bool, yes="Hoạt động", no="Ngừng") -> str:
    return yes if ok else no


def _form(request, p, title, fields, values, action, cancel, errors=None, form_error="", status=200, extras=None):
    return render(request, "crud_form.html", p, status=status, title=title, fields=fields, values=values,
                  errors=errors or {}, form_error=form_error, action=action, cancel_url=cancel, extras=extras or [])


async def _submit(request, db, p, fields, model, call, *, title, action, cancel, ok_url, ok_msg, extras=None):
    data = await form_data(request, fields)
    try:
        call(model.model_validate(data))
    except Exception as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _form(request, p, title, fields, data, action, cancel, errors, msg, 422, extras)
    return _done(ok_url, ok_msg)


def _delete(db, call, ok_url, ok_msg):
    try:
        call()
    except DomainError as e:
        db.rollback()
        return _done(ok_url, "Không xóa được: " + e.detail)
    return _done(ok_url, ok_msg)


def _org_options(db, p):
    rows = db.scalars(select(Organization).order_by(Organization.code)) if p.is_sysadmin else []
    return [(o.id, f"{o.code} – {o.name}") for o in rows]


# --- organizations ------------------------------------------------------------------------------
def _org_fields(db, p, org=None):
    groups = db.scalars(select(PermissionGroup).order_by(PermissionGroup.code)).all()
    fields = [Field("code", "Mã tổ chức", required=True, readonly=org is not None, maxlength=50),
              Field("name", "Tên tổ chức", required=True, maxlength=200)]
    if p.is_sysadmin:
        fields += [Field("is_active", "Đang hoạt động", "checkbox", default=True),
                   Field("group_ids", "Nhóm quyền được phép dùng", "multiselect",
                         options=[(g.id, f"{g.code} – {g.name}") for g in groups])]
    if org is not None:
        people = users.list_users(db, p, users.ListParams(page_size=200), organization_id=org.id).items
        fields.append(Field("manager_id", "Người quản lý", "select",
                            options=[(u.id, f"{u.full_name} ({u.username})") for u in people]))
    return fields


@router.get("/organizations")
def org_list(request: Request, db: DbDep, p: Principal = console("identity.organizations.read")):
    params = list_params(request)
    page = service.list_organizations(db, p, params, is_active=bool_filter(request.query_params.get("is_active")))
    can_write = p.has("identity.organizations.write")
    rows = [Row([o.code, o.name, ", ".join(g.code for g in o.groups), o.manager.full_name if o.manager else "",
                 _badge(o.is_active)], url=f"/admin/organizations/{o.id}" if can_write else "",
                actions=[Action("Sửa", f"/admin/organizations/{o.id}")] if can_write else []) for o in page.items]
    return render(request, "crud_list.html", p, title="Tổ chức", page=page, rows=rows, sort=params.sort or "code",
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Nhóm quyền được phép"),
                           Column("Người quản lý"), Column("Trạng thái")],
                  filters=[ACTIVE_FILTER], row_actions=can_write,
                  new_url="/admin/organizations/new" if p.is_sysadmin else "")


@router.get("/organizations/new")
def org_new(request: Request, db: DbDep, p: Principal = console("identity.organizations.write")):
    return _form(request, p, "Thêm tổ chức", _org_fields(db, p), {"is_active": True}, "/admin/organizations/new",
                 "/admin/organizations")


@router.post("/organizations/new")
async def org_create(request: Request, db: DbDep, p: Principal = console("identity.organizations.write")):
    return await _submit(request, db, p, _org_fields(db, p), S.OrganizationIn,
                         lambda d: service.create_organization(db, p, d), title="Thêm tổ chức",
                         action="/admin/organizations/new", cancel="/admin/organizations",
                         ok_url="/admin/organizations", ok_msg="Đã tạo tổ chức.")


def _org_extras(o):
    return [{"title": "Xóa tổ chức", "text": "Chỉ xóa được tổ chức chưa có đơn vị và người dùng.", "label": "Xóa",
             "url": f"/admin/organizations/{o.id}/delete", "cls": "danger",
             "confirm": f"Xóa tổ chức {o.code}? Thao tác không hoàn tác được."}]


@router.get("/organizations/{org_id}")
def org_edit(org_id: str, request: Request, db: DbDep, p: Principal = console("identity.organizations.write")):
    o = service.get_organization(db, p, org_id)
    values = {"code": o.code, "name": o.name, "is_active": o.is_active, "group_ids": [g.id for g in o.groups],
              "manager_id": o.manager_id}
    return _form(request, p, f"Sửa tổ chức {o.code}", _org_fields(db, p, o), values, f"/admin/organizations/{o.id}",
                 "/admin/organizations", extras=_org_extras(o) if p.is_sysadmin else [])


@router.post("/organizations/{org_id}")
async def org_update(org_id: str, request: Request, db: DbDep, p: Principal = console("identity.organizations.write")):
    o = service.get_organization(db, p, org_id)
    return await _submit(request, db, p, _org_fields(db, p, o), S.OrganizationPatch,
                         lambda d: service.update_organization(db, p, o.id, d), title=f"Sửa tổ chức {o.code}",
                         action=f"/admin/organizations/{o.id}", cancel="/admin/organizations",
                         ok_url="/admin/organizations", ok_msg="Đã lưu tổ chức.")


@router.post("/organizations/{org_id}/delete")
def org_delete(org_id: str, db: DbDep, p: Principal = console("identity.organizations.write")):
    return _delete(db, lambda: service.delete_organization(db, p, org_id), "/admin/organizations", "Đã xóa tổ chức.")


# --- departments --------------------------------------------------------------------------------
def _dept_fields(db, p, dept=None, org_id=None):
    tree = service.department_tree(db, p, org_id or (dept.organization_id if dept else None))
    opts = [(d.id, "— " * depth + f"{d.code} – {d.name}") for d, depth in tree
            if dept is None or not d.path.startswith(dept.path)]
    fields = []
    if p.is_sysadmin and dept is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=_org_options(db, p)))
    fields += [Field("code", "Mã đơn vị", required=True, maxlength=50), Field("name", "Tên đơn vị", required=True),
               Field("parent_id", "Đơn vị cấp trên", "select", options=opts,
                     help="Để trống nếu là đơn vị cấp cao nhất." if p.unit_path is None else ""),
               Field("is_active", "Đang hoạt động", "checkbox", default=True)]
    return fields


@router.get("/departments")
def dept_list(request: Request, db: DbDep, p: Principal = console("identity.departments.read")):
    params = list_params(request, 50)
    org = request.query_params.get("organization_id", "")
    page = service.list_departments(db, p, params, organization_id=org,
                                    is_active=bool_filter(request.query_params.get("is_active")))
    names = {d.id: d for d, _ in service.department_tree(db, p, org or None)}
    can_write = p.has("identity.departments.write")
    rows = []
    for d in page.items:
        depth = d.path.count("/") - 2
        parent = names.get(d.parent_id)
        actions = [Action("Sửa", f"/admin/departments/{d.id}"),
                   Action("Xóa", f"/admin/departments/{d.id}/delete", "post", cls="danger",
                          confirm=f"Xóa đơn vị {d.code}?")] if can_write else []
        rows.append(Row(["— " * depth + d.code, d.name, f"{parent.code} – {parent.name}" if parent else "",
                         _badge(d.is_active)], url=f"/admin/departments/{d.id}" if can_write else "", actions=actions))
    filters = [ACTIVE_FILTER] + ([Filter("organization_id", "Tổ chức", _org_options(db, p))] if p.is_sysadmin else [])
    return render(request, "crud_list.html", p, title="Đơn vị, phòng ban", page=page, rows=rows,
                  sort=params.sort or "path", filters=filters, row_actions=can_write,
                  columns=[Column("Mã (theo cây)", "path"), Column("Tên", "name"), Column("Đơn vị cấp trên"),
                           Column("Trạng thái")],
                  new_url="/admin/departments/new" if can_write else "")


@router.get("/departments/new")
def dept_new(request: Request, db: DbDep, p: Principal = console("identity.departments.write")):
    return _form(request, p, "Thêm đơn vị", _dept_fields(db, p), {"is_active": True,
                 "parent_id": request.query_params.get("parent_id")}, "/admin/departments/new", "/admin/departments")


@router.post("/departments/new")
async def dept_create(request: Request, db: DbDep, p: Principal = console("identity.departments.write")):
    return await _submit(request, db, p, _dept_fields(db, p), S.DepartmentIn,
                         lambda d: service.create_department(db, p, d), title="Thêm đơn vị",
                         action="/admin/departments/new", cancel="/admin/departments", ok_url="/admin/departments",
                         ok_msg="Đã tạo đơn vị.")


@router.get("/departments/{dept_id}")
def dept_edit(dept_id: str, request: Request, db: DbDep, p: Principal = console("identity.departments.write")):
    d = service.get_department(db, p, dept_id)
    values = {"code": d.code, "name": d.name, "parent_id": d.parent_id, "is_active": d.is_active}
    return _form(request, p, f"Sửa đơn vị {d.code}", _dept_fields(db, p, d), values, f"/admin/departments/{d.id}",
                 "/admin/departments")


@router.post("/departments/{dept_id}")
async def dept_update(dept_id: str, request: Request, db: DbDep, p: Principal = console("identity.departments.write")):
    d = service.get_department(db, p, dept_id)
    return await _submit(request, db, p, _dept_fields(db, p, d), S.DepartmentPatch,
                         lambda data: service.update_department(db, p, d.id, data), title=f"Sửa đơn vị {d.code}",
                         action=f"/admin/departments/{d.id}", cancel="/admin/departments", ok_url="/admin/departments",
                         ok_msg="Đã lưu đơn vị.")


@router.post("/departments/{dept_id}/delete")
def dept_delete(dept_id: str, db: DbDep, p: Principal = console("identity.departments.write")):
    return _delete(db, lambda: service.delete_department(db, p, dept_id), "/admin/departments", "Đã xóa đơn vị.")


# --- users --------------------------------------------------------------------------------------
def _user_fields(db, p, user=None):
    org_id = user.organization_id if user else (None if p.is_sysadmin else p.organization_id)
    tree = service.department_tree(db, p, org_id) if (org_id or not p.is_sysadmin) else service.department_tree(db, p)
    dept_opts = [(d.id, "— " * depth + f"{d.code} – {d.name}") for d, depth in tree]
    group_opts = [(g.id, f"{g.code} – {g.name}") for g in groups_allowed(db, org_id)]
    fields = []
    if user is None:
        if p.is_sysadmin:
            fields.append(Field("organization_id", "Tổ chức", "select", options=_org_options(db, p),
                                help="Để trống và chọn 'Quản trị hệ thống' để tạo quản trị viên hệ thống."))
        fields += [Field("username", "Tên đăng nhập", required=True, maxlength=100,
                         help="Chữ thường không dấu, chữ số và . _ - @")]
    fields += [Field("code", "Mã người dùng", required=True, maxlength=50),
               Field("full_name", "Họ và tên", required=True, maxlength=200),
               Field("phone", "Số điện thoại", "tel"), Field("email", "Email", "email"),
               Field("address", "Địa chỉ", wide=True)]
    if user is None or user.organization_id:
        fields += [Field("department_id", "Đơn vị", "select", options=dept_opts),
                   Field("group_ids", "Nhóm quyền", "multiselect", options=group_opts)]
    if user is None:
        fields += [Field("password", "Mật khẩu ban đầu", "password", required=True,
                         help="Người dùng sẽ phải đổi mật khẩu ở lần đăng nhập đầu."),
                   Field("must_change_password", "Bắt buộc đổi mật khẩu khi đăng nhập lần đầu", "checkbox",
                         default=True)]
        if p.is_sysadmin:
            fields.append(Field("is_sysadmin", "Quản trị hệ thống (không thuộc tổ chức)", "checkbox"))
    fields += [Field("is_active", "Đang hoạt động", "checkbox", default=True),
               Field("allow_multiple_sessions", "Cho phép đăng nhập nhiều thiết bị (tài khoản dịch vụ)", "checkbox")]
    return fields


@router.get("/users")
def user_list(request: Request, db: DbDep, p: Principal = console("identity.users.read")):
    params = list_params(request)
    qp = request.query_params
    page = users.list_users(db, p, params, organization_id=qp.get("organization_id", ""),
                            department_id=qp.get("department_id", ""), group_id=qp.get("group_id", ""),
                            is_active=bool_filter(qp.get("is_active")))
    can_write = p.has("identity.users.write")
    rows = []
    for u in page.items:
        status = _badge(u.is_active)
        if u.locked_until:
            from ketnoi.db.base import utcnow

            if u.locked_until > utcnow():
                status = "Tạm khóa"
        rows.append(Row([u.username, u.full_name, u.code, u.department.name if u.department else (
            "Quản trị hệ thống" if u.is_sysadmin else ""), ", ".join(g.name for g in u.groups), u.phone, status],
            url=f"/admin/users/{u.id}" if can_write else "",
            actions=[Action("Sửa", f"/admin/users/{u.id}")] if can_write else []))
    org_id = None if p.is_sysadmin else p.organization_id
    filters = [ACTIVE_FILTER,
               Filter("department_id", "Đơn vị", [(d.id, "— " * depth + d.name)
                                                  for d, depth in service.department_tree(db, p, org_id)]),
               Filter("group_id", "Nhóm quyền", [(g.id, g.name) for g in groups_allowed(db, org_id)])]
    if p.is_sysadmin:
        filters.append(Filter("organization_id", "Tổ chức", _org_options(db, p)))
    return render(request, "crud_list.html", p, title="Người dùng", page=page, rows=rows,
                  sort=params.sort or "username", filters=filters, row_actions=can_write,
                  search_hint="Tên đăng nhập, họ tên, mã, điện thoại, email",
                  columns=[Column("Tên đăng nhập", "username"), Column("Họ và tên", "full_name"),
                           Column("Mã", "code"), Column("Đơn vị", "department"), Column("Nhóm quyền"),
                           Column("Điện thoại"), Column("Trạng thái")],
                  new_url="/admin/users/new" if can_write else "")


@router.get("/users/new")
def user_new(request: Request, db: DbDep, p: Principal = console("identity.users.write")):
    return _form(request, p, "Thêm người dùng", _user_fields(db, p), {"is_active": True, "must_change_password": True},
                 "/admin/users/new", "/admin/users")


@router.post("/users/new")
async def user_create(request: Request, db: DbDep, p: Principal = console("identity.users.write")):
    return await _submit(request, db, p, _user_fields(db, p), S.UserIn, lambda d: users.create_user(db, p, d),
                         title="Thêm người dùng", action="/admin/users/new", cancel="/admin/users",
                         ok_url="/admin/users", ok_msg="Đã tạo người dùng.")


def _user_extras(u):
    return [
        {"title": "Đặt lại mật khẩu", "text": "Tạo mật khẩu tạm thời và kết thúc mọi phiên đăng nhập của người dùng.",
         "label": "Đặt lại mật khẩu", "url": f"/admin/users/{u.id}/reset-password",
         "confirm": f"Đặt lại mật khẩu cho {u.username}?"},
        {"title": "Mở khóa đăng nhập", "text": "Xóa số lần đăng nhập sai và bỏ khóa tạm thời.", "label": "Mở khóa",
         "url": f"/admin/users/{u.id}/unlock"},
        {"title": "Xóa người dùng", "text": "Chỉ xóa được tài khoản chưa từng đăng nhập; còn lại hãy vô hiệu hóa.",
         "label": "Xóa", "url": f"/admin/users/{u.id}/delete", "cls": "danger",
         "confirm": f"Xóa người dùng {u.username}?"},
    ]


@router.get("/users/{user_id}")
def user_edit(user_id: str, request: Request, db: DbDep, p: Principal = console("identity.users.write")):
    u = users.get_user(db, p, user_id)
    values = {f: getattr(u, f) for f in ("code", "full_name", "phone", "email", "address", "department_id",
                                         "is_active", "allow_multiple_sessions")}
    values["group_ids"] = [g.id for g in u.groups]
    return _form(request, p, f"Sửa người dùng {u.username}", _user_fields(db, p, u), values, f"/admin/users/{u.id}",
                 "/admin/users", extras=_user_extras(u))


@router.post("/users/{user_id}")
async def user_update(user_id: str, request: Request, db: DbDep, p: Principal = console("identity.users.write")):
    u = users.get_user(db, p, user_id)
    return await _submit(request, db, p, _user_fields(db, p, u), S.UserPatch,
                         lambda d: users.update_user(db, p, u.id, d), title=f"Sửa người dùng {u.username}",
                         action=f"/admin/users/{u.id}", cancel="/admin/users", ok_url="/admin/users",
                         ok_msg="Đã lưu người dùng.", extras=_user_extras(u))


@router.post("/users/{user_id}/reset-password")
def user_reset(user_id: str, request: Request, db: DbDep, p: Principal = console("identity.users.write")):
    u = users.get_user(db, p, user_id)
    temp = auth.admin_reset_password(db, p, u)
    return render(request, "crud_form.html", p, title=f"Mật khẩu tạm của {u.username}", fields=[], values={},
                  errors={}, action=f"/admin/users/{u.id}", cancel_url="/admin/users", submit_label="Về trang sửa",
                  notice=f"Mật khẩu tạm: {temp} — chỉ hiển thị một lần. Người dùng phải đổi mật khẩu khi đăng nhập.")


@router.post("/users/{user_id}/unlock")
def user_unlock(user_id: str, db: DbDep, p: Principal = console("identity.users.write")):
    users.unlock_user(db, p, user_id)
    return _done(f"/admin/users/{user_id}", "Đã mở khóa đăng nhập.")


@router.post("/users/{user_id}/delete")
def user_delete(user_id: str, db: DbDep, p: Principal = console("identity.users.write")):
    return _delete(db, lambda: users.delete_user(db, p, user_id), "/admin/users", "Đã xóa người dùng.")


# --- permission groups --------------------------------------------------------------------------
def _group_fields(db, edit=False):
    roles = db.scalars(select(Role).order_by(Role.sort_order, Role.code)).all()
    return [Field("code", "Mã nhóm", required=True, readonly=edit, maxlength=50),
            Field("name", "Tên nhóm", required=True), Field("description", "Mô tả", "textarea"),
            Field("role_ids", "Vai trò (chức năng) trong nhóm", "multiselect",
                  options=[(r.id, f"{r.name} ({r.code})") for r in roles])]


@router.get("/groups")
def group_list(request: Request, db: DbDep, p: Principal = console("identity.groups.read")):
    params = list_params(request)
    page = service.list_groups(db, p, params)
    can_write = p.has("identity.groups.write") and p.is_sysadmin
    rows = [Row([g.code, g.name, str(len(g.roles)), g.description[:120]], url=f"/admin/groups/{g.id}" if can_write else "",
                actions=[Action("Sửa", f"/admin/groups/{g.id}"),
                         Action("Xóa", f"/admin/groups/{g.id}/delete", "post", cls="danger",
                                confirm=f"Xóa nhóm quyền {g.code}?")] if can_write else []) for g in page.items]
    return render(request, "crud_list.html", p, title="Nhóm quyền", page=page, rows=rows, sort=params.sort or "code",
                  filters=[], row_actions=can_write,
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Số vai trò"), Column("Mô tả")],
                  new_url="/admin/groups/new" if can_write else "")


@router.get("/groups/new")
def group_new(request: Request, db: DbDep, p: Principal = console("identity.groups.write")):
    return _form(request, p, "Thêm nhóm quyền", _group_fields(db), {}, "/admin/groups/new", "/admin/groups")


@router.post("/groups/new")
async def group_create(request: Request, db: DbDep, p: Principal = console("identity.groups.write")):
    return await _submit(request, db, p, _group_fields(db), S.GroupIn, lambda d: service.create_group(db, p, d),
                         title="Thêm nhóm quyền", action="/admin/groups/new", cancel="/admin/groups",
                         ok_url="/admin/groups", ok_msg="Đã tạo nhóm quyền.")


@router.get("/groups/{group_id}")
def group_edit(group_id: str, request: Request, db: DbDep, p: Principal = console("identity.groups.write")):
    g = service.get_group(db, p, group_id)
    values = {"code": g.code, "name": g.name, "description": g.description, "role_ids": [r.id for r in g.roles]}
    return _form(request, p, f"Sửa nhóm quyền {g.code}", _group_fields(db, True), values, f"/admin/groups/{g.id}",
                 "/admin/groups")


@router.post("/groups/{group_id}")
async def group_update(group_id: str, request: Request, db: DbDep, p: Principal = console("identity.groups.write")):
    g = service.get_group(db, p, group_id)
    return await _submit(request, db, p, _group_fields(db, True), S.GroupPatch,
                         lambda d: service.update_group(db, p, g.id, d), title=f"Sửa nhóm quyền {g.code}",
                         action=f"/admin/groups/{g.id}", cancel="/admin/groups", ok_url="/admin/groups",
                         ok_msg="Đã lưu nhóm quyền.")


@router.post("/groups/{group_id}/delete")
def group_delete(group_id: str, db: DbDep, p: Principal = console("identity.groups.write")):
    return _delete(db, lambda: service.delete_group(db, p, group_id), "/admin/groups", "Đã xóa nhóm quyền.")


# --- roles --------------------------------------------------------------------------------------
def _role_fields(db, role=None):
    roles = db.scalars(select(Role).order_by(Role.sort_order, Role.code)).all()
    system = role is not None and role.is_system
    return [Field("code", "Mã vai trò", required=True, readonly=role is not None, maxlength=100,
                  help="Chữ thường không dấu, chữ số và . _ -"),
            Field("name", "Tên (mục menu/chức năng)", required=True), Field("description", "Mô tả", "textarea"),
            Field("parent_id", "Menu cha", "select", readonly=system,
                  options=[(r.id, f"{r.name} ({r.code})") for r in roles if role is None or r.id != role.id]),
            Field("sort_order", "Thứ tự", "number", default=0)]


@router.get("/roles")
def role_list(request: Request, db: DbDep, p: Principal = console("identity.roles.read")):
    params = list_params(request, 100)
    page = service.list_roles(db, p, params)
    can_write = p.has("identity.roles.write") and p.is_sysadmin
    by_id = {r.id: r for r in db.scalars(select(Role))}
    rows = [Row([r.code, r.name, by_id[r.parent_id].name if r.parent_id in by_id else "",
                 "Hệ thống" if r.is_system else "Tùy chỉnh"], url=f"/admin/roles/{r.id}" if can_write else "",
                actions=[Action("Sửa", f"/admin/roles/{r.id}")] + (
                    [Action("Xóa", f"/admin/roles/{r.id}/delete", "post", cls="danger", confirm=f"Xóa vai trò {r.code}?")]
                    if not r.is_system else []) if can_write else []) for r in page.items]
    return render(request, "crud_list.html", p, title="Vai trò (menu, chức năng)", page=page, rows=rows,
                  sort=params.sort or "sort_order", filters=[], row_actions=can_write,
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Menu cha"), Column("Loại")],
                  new_url="/admin/roles/new" if can_write else "")


@router.get("/roles/new")
def role_new(request: Request, db: DbDep, p: Principal = console("identity.roles.write")):
    return _form(request, p, "Thêm vai trò", _role_fields(db), {"sort_order": 200}, "/admin/roles/new", "/admin/roles")


@router.post("/roles/new")
async def role_create(request: Request, db: DbDep, p: Principal = console("identity.roles.write")):
    return await _submit(request, db, p, _role_fields(db), S.RoleIn, lambda d: service.create_role(db, p, d),
                         title="Thêm vai trò", action="/admin/roles/new", cancel="/admin/roles", ok_url="/admin/roles",
                         ok_msg="Đã tạo vai trò.")


@router.get("/roles/{role_id}")
def role_edit(role_id: str, request: Request, db: DbDep, p: Principal = console("identity.roles.write")):
    r = service.get_role(db, role_id)
    values = {"code": r.code, "name": r.name, "description": r.description, "parent_id": r.parent_id,
              "sort_order": r.sort_order}
    return _form(request, p, f"Sửa vai trò {r.code}", _role_fields(db, r), values, f"/admin/roles/{r.id}", "/admin/roles")


@router.post("/roles/{role_id}")
async def role_update(role_id: str, request: Request, db: DbDep, p: Principal = console("identity.roles.write")):
    r = service.get_role(db, role_id)
    return await _submit(request, db, p, _role_fields(db, r), S.RolePatch, lambda d: service.update_role(db, p, r.id, d),
                         title=f"Sửa vai trò {r.code}", action=f"/admin/roles/{r.id}", cancel="/admin/roles",
                         ok_url="/admin/roles", ok_msg="Đã lưu vai trò.")


@router.post("/roles/{role_id}/delete")
def role_delete(role_id: str, db: DbDep, p: Principal = console("identity.roles.write")):
    return _delete(db, lambda: service.delete_role(db, p, role_id), "/admin/roles", "Đã xóa vai trò.")


# --- sessions -----------------------------------------------------------------------------------
REASONS = {"logout": "Đăng xuất", "replaced": "Đăng nhập thiết bị khác", "revoked": "Bị kết thúc",
           "expired": "Hết hạn", "password": "Đổi mật khẩu"}


@router.get("/sessions")
def session_list(request: Request, db: DbDep, p: Principal = console("identity.sessions.manage")):
    params = list_params(request)
    active = bool_filter(request.query_params.get("active", "1"))
    page = users.list_sessions(db, p, params, active=active)
    from ketnoi.web.pages import _local

    rows = [Row([s.user.username, s.device, s.ip, "Bảng điều khiển" if s.kind == "web" else "API",
                 _local(s.created_at), _local(s.last_seen_at),
                 REASONS.get(s.end_reason, "Đang hoạt động") if s.ended_at else "Đang hoạt động"],
                actions=[] if s.ended_at else [Action("Kết thúc", f"/admin/sessions/{s.id}/revoke", "post", cls="danger",
                                                      confirm=f"Kết thúc phiên của {s.user.username}?")])
            for s in page.items]
    return render(request, "crud_list.html", p, title="Phiên đăng nhập", page=page, rows=rows,
                  sort=params.sort or "-created_at", row_actions=True, search_hint="Tên đăng nhập, thiết bị, IP",
                  filters=[Filter("active", "Trạng thái", [("1", "Đang hoạt động"), ("0", "Đã kết thúc")])],
                  columns=[Column("Người dùng"), Column("Thiết bị"), Column("IP"), Column("Loại"),
                           Column("Bắt đầu", "created_at"), Column("Hoạt động gần nhất", "last_seen_at"),
                           Column("Trạng thái")])


@router.post("/sessions/{session_id}/revoke")
def session_revoke(session_id: str, db: DbDep, p: Principal = console("identity.sessions.manage")):
    return _delete(db, lambda: users.revoke_session(db, p, session_id), "/admin/sessions", "Đã kết thúc phiên.")
