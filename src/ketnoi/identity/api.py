"""JSON API of the identity domain: auth, profile, organizations, departments, users, roles, groups,
sessions (API.md conventions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ketnoi.core.listing import ListParams
from ketnoi.identity import auth, service, users
from ketnoi.identity import schemas as S
from ketnoi.identity.principal import Principal
from ketnoi.web.deps import DbDep, client_ip, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]


def _page(page, schema) -> dict[str, Any]:
    return page.as_dict(lambda o: schema.model_validate(o))


# --- auth ---------------------------------------------------------------------------------------
@router.post("/auth/login", response_model=S.TokenOut, tags=["auth"], summary="Đăng nhập, nhận bearer token")
def login(data: S.LoginIn, request: Request, db: DbDep):
    result = auth.login(db, data.username, data.password, kind="api", ip=client_ip(request),
                        user_agent=request.headers.get("user-agent", ""))
    ttl = round((result.session.expires_at - result.session.created_at).total_seconds())
    return S.TokenOut(access_token=result.token, expires_in=ttl)


login.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/auth/logout", status_code=204, tags=["auth"], summary="Đăng xuất (kết thúc phiên/token hiện tại)")
def logout(request: Request, db: DbDep, p: Principal = requires(None)):
    a = request.state.auth
    auth.end_session(db, a.session, "logout", p)
    return Response(status_code=204)


@router.get("/auth/me", response_model=S.MeOut, tags=["auth"], summary="Tài khoản đang đăng nhập")
def me(request: Request, db: DbDep, p: Principal = requires(None)):
    u = request.state.auth.user
    out = S.MeOut.model_validate({**S.UserOut.model_validate(u).model_dump(), "permissions": sorted(p.permissions),
                                  "unit_scope": p.unit_path})
    return out


@router.patch("/auth/me", response_model=S.UserOut, tags=["auth"], summary="Sửa thông tin cá nhân (PERM-02)")
def update_me(data: S.ProfileIn, db: DbDep, p: Principal = requires(None)):
    return users.update_profile(db, p, data)


@router.post("/auth/password", response_model=S.MessageOut, tags=["auth"], summary="Đổi mật khẩu (PERM-03)")
def change_password(data: S.ChangePasswordIn, db: DbDep, p: Principal = requires(None)):
    auth.change_password(db, p, data.current_password, data.new_password, data.confirm_password)
    return S.MessageOut(message="Đã đổi mật khẩu. Các phiên đăng nhập khác đã được kết thúc.")


@router.post("/auth/password-reset/request", response_model=S.MessageOut, tags=["auth"],
             summary="Quên mật khẩu: gửi mã xác nhận (CRM-02)")
def reset_request(data: S.ResetRequestIn, request: Request, db: DbDep):
    return S.MessageOut(message=auth.request_password_reset(db, data.username, data.channel, ip=client_ip(request)))


reset_request.ketnoi_public = True  # type: ignore[attr-defined]


@router.post("/auth/password-reset/confirm", response_model=S.MessageOut, tags=["auth"],
             summary="Quên mật khẩu: đặt mật khẩu mới bằng mã (CRM-02)")
def reset_confirm(data: S.ResetConfirmIn, request: Request, db: DbDep):
    auth.confirm_password_reset(db, data.username, data.code, data.new_password, data.confirm_password,
                                ip=client_ip(request))
    return S.MessageOut(message="Đã đặt mật khẩu mới. Hãy đăng nhập lại.")


reset_confirm.ketnoi_public = True  # type: ignore[attr-defined]


# --- organizations ------------------------------------------------------------------------------
@router.get("/organizations", response_model=Paged[S.OrganizationOut], tags=["organizations"],
            summary="Danh sách tổ chức (PERM-06)")
def list_organizations(db: DbDep, params: ListQ, is_active: bool | None = None,
                       p: Principal = requires("identity.organizations.read")):
    return _page(service.list_organizations(db, p, params, is_active=is_active), S.OrganizationOut)


@router.post("/organizations", response_model=S.OrganizationOut, status_code=201, tags=["organizations"],
             summary="Tạo tổ chức")
def create_organization(data: S.OrganizationIn, db: DbDep, p: Principal = requires("identity.organizations.write")):
    return service.create_organization(db, p, data)


@router.get("/organizations/{org_id}", response_model=S.OrganizationOut, tags=["organizations"],
            summary="Chi tiết tổ chức")
def get_organization(org_id: str, db: DbDep, p: Principal = requires("identity.organizations.read")):
    return service.get_organization(db, p, org_id)


@router.patch("/organizations/{org_id}", response_model=S.OrganizationOut, tags=["organizations"],
              summary="Sửa tổ chức")
def update_organization(org_id: str, data: S.OrganizationPatch, db: DbDep,
                        p: Principal = requires("identity.organizations.write")):
    return service.update_organization(db, p, org_id, data)


@router.delete("/organizations/{org_id}", status_code=204, tags=["organizations"], summary="Xóa tổ chức")
def delete_organization(org_id: str, db: DbDep, p: Principal = requires("identity.organizations.write")):
    service.delete_organization(db, p, org_id)
    return Response(status_code=204)


# --- departments --------------------------------------------------------------------------------
@router.get("/departments", response_model=Paged[S.DepartmentOut], tags=["departments"],
            summary="Danh sách đơn vị, phòng ban (PERM-07)")
def list_departments(db: DbDep, params: ListQ, organization_id: str = "", parent_id: str = "",
                     is_active: bool | None = None, p: Principal = requires("identity.departments.read")):
    page = service.list_departments(db, p, params, organization_id=organization_id, parent_id=parent_id,
                                    is_active=is_active)
    return _page(page, S.DepartmentOut)


@router.post("/departments", response_model=S.DepartmentOut, status_code=201, tags=["departments"],
             summary="Tạo đơn vị")
def create_department(data: S.DepartmentIn, db: DbDep, p: Principal = requires("identity.departments.write")):
    return service.create_department(db, p, data)


@router.get("/departments/{dept_id}", response_model=S.DepartmentOut, tags=["departments"], summary="Chi tiết đơn vị")
def get_department(dept_id: str, db: DbDep, p: Principal = requires("identity.departments.read")):
    return service.get_department(db, p, dept_id)


@router.patch("/departments/{dept_id}", response_model=S.DepartmentOut, tags=["departments"], summary="Sửa đơn vị")
def update_department(dept_id: str, data: S.DepartmentPatch, db: DbDep,
                      p: Principal = requires("identity.departments.write")):
    return service.update_department(db, p, dept_id, data)


@router.delete("/departments/{dept_id}", status_code=204, tags=["departments"], summary="Xóa đơn vị")
def delete_department(dept_id: str, db: DbDep, p: Principal = requires("identity.departments.write")):
    service.delete_department(db, p, dept_id)
    return Response(status_code=204)


# --- users --------------------------------------------------------------------------------------
@router.get("/users", response_model=Paged[S.UserOut], tags=["users"], summary="Danh sách người dùng (PERM-08)")
def list_users(db: DbDep, params: ListQ, organization_id: str = "", department_id: str = "", group_id: str = "",
               is_active: bool | None = None, p: Principal = requires("identity.users.read")):
    page = users.list_users(db, p, params, organization_id=organization_id, department_id=department_id,
                            group_id=group_id, is_active=is_active)
    return _page(page, S.UserOut)


@router.post("/users", response_model=S.UserOut, status_code=201, tags=["users"], summary="Tạo người dùng")
def create_user(data: S.UserIn, db: DbDep, p: Principal = requires("identity.users.write")):
    return users.create_user(db, p, data)


@router.get("/users/{user_id}", response_model=S.UserOut, tags=["users"], summary="Chi tiết người dùng")
def get_user(user_id: str, db: DbDep, p: Principal = requires("identity.users.read")):
    return users.get_user(db, p, user_id)


@router.patch("/users/{user_id}", response_model=S.UserOut, tags=["users"], summary="Sửa người dùng")
def update_user(user_id: str, data: S.UserPatch, db: DbDep, p: Principal = requires("identity.users.write")):
    return users.update_user(db, p, user_id, data)


@router.delete("/users/{user_id}", status_code=204, tags=["users"], summary="Xóa người dùng")
def delete_user(user_id: str, db: DbDep, p: Principal = requires("identity.users.write")):
    users.delete_user(db, p, user_id)
    return Response(status_code=204)


@router.post("/users/{user_id}/reset-password", response_model=S.AdminResetOut, tags=["users"],
             summary="Quản trị viên đặt lại mật khẩu (CRM-02)")
def admin_reset(user_id: str, data: S.AdminResetIn, db: DbDep, p: Principal = requires("identity.users.write")):
    u = users.get_user(db, p, user_id)
    temp = auth.admin_reset_password(db, p, u, data.new_password)
    return S.AdminResetOut(temporary_password=temp,
                           message="Đã đặt mật khẩu tạm; người dùng phải đổi mật khẩu khi đăng nhập.")


@router.post("/users/{user_id}/unlock", response_model=S.UserOut, tags=["users"], summary="Mở khóa đăng nhập")
def unlock(user_id: str, db: DbDep, p: Principal = requires("identity.users.write")):
    return users.unlock_user(db, p, user_id)


# --- roles and groups ---------------------------------------------------------------------------
@router.get("/roles", response_model=Paged[S.RoleOut], tags=["roles"], summary="Danh sách vai trò (PERM-04)")
def list_roles(db: DbDep, params: ListQ, p: Principal = requires("identity.roles.read")):
    return _page(service.list_roles(db, p, params), S.RoleOut)


@router.post("/roles", response_model=S.RoleOut, status_code=201, tags=["roles"], summary="Tạo vai trò")
def create_role(data: S.RoleIn, db: DbDep, p: Principal = requires("identity.roles.write")):
    return service.create_role(db, p, data)


@router.get("/roles/{role_id}", response_model=S.RoleOut, tags=["roles"], summary="Chi tiết vai trò")
def get_role(role_id: str, db: DbDep, p: Principal = requires("identity.roles.read")):
    return service.get_role(db, role_id)


@router.patch("/roles/{role_id}", response_model=S.RoleOut, tags=["roles"], summary="Sửa vai trò")
def update_role(role_id: str, data: S.RolePatch, db: DbDep, p: Principal = requires("identity.roles.write")):
    return service.update_role(db, p, role_id, data)


@router.delete("/roles/{role_id}", status_code=204, tags=["roles"], summary="Xóa vai trò")
def delete_role(role_id: str, db: DbDep, p: Principal = requires("identity.roles.write")):
    service.delete_role(db, p, role_id)
    return Response(status_code=204)


@router.get("/permission-groups", response_model=Paged[S.GroupOut], tags=["permission groups"],
            summary="Danh sách nhóm quyền (PERM-05)")
def list_groups(db: DbDep, params: ListQ, p: Principal = requires("identity.groups.read")):
    return _page(service.list_groups(db, p, params), S.GroupOut)


@router.post("/permission-groups", response_model=S.GroupOut, status_code=201, tags=["permission groups"],
             summary="Tạo nhóm quyền")
def create_group(data: S.GroupIn, db: DbDep, p: Principal = requires("identity.groups.write")):
    return service.create_group(db, p, data)


@router.get("/permission-groups/{group_id}", response_model=S.GroupOut, tags=["permission groups"],
            summary="Chi tiết nhóm quyền")
def get_group(group_id: str, db: DbDep, p: Principal = requires("identity.groups.read")):
    return service.get_group(db, p, group_id)


@router.patch("/permission-groups/{group_id}", response_model=S.GroupOut, tags=["permission groups"],
              summary="Sửa nhóm quyền")
def update_group(group_id: str, data: S.GroupPatch, db: DbDep, p: Principal = requires("identity.groups.write")):
    return service.update_group(db, p, group_id, data)


@router.delete("/permission-groups/{group_id}", status_code=204, tags=["permission groups"], summary="Xóa nhóm quyền")
def delete_group(group_id: str, db: DbDep, p: Principal = requires("identity.groups.write")):
    service.delete_group(db, p, group_id)
    return Response(status_code=204)


# --- sessions -----------------------------------------------------------------------------------
@router.get("/sessions", response_model=Paged[S.SessionOut], tags=["sessions"], summary="Phiên đăng nhập")
def list_sessions(db: DbDep, params: ListQ, user_id: str = "",
                  active: Annotated[bool | None, Query(description="true: đang hoạt động; false: đã kết thúc")] = True,
                  p: Principal = requires("identity.sessions.manage")):
    return _page(users.list_sessions(db, p, params, user_id=user_id, active=active), S.SessionOut)


@router.delete("/sessions/{session_id}", status_code=204, tags=["sessions"], summary="Kết thúc một phiên đăng nhập")
def revoke_session(session_id: str, db: DbDep, p: Principal = requires("identity.sessions.manage")):
    users.revoke_session(db, p, session_id)
    return Response(status_code=204)
