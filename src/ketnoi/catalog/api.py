"""JSON API of the catalog domain: areas (CRM-26…29) and report categories (CRM-20…25), API.md
conventions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import Field

from ketnoi.catalog import defaults, service
from ketnoi.catalog import schemas as S
from ketnoi.catalog.models import Category
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, Problem, list_query

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]
SchemeQ = Annotated[str, Query(pattern=r"^(2025|legacy)?$", description="Sơ đồ hành chính: 2025 hoặc legacy")]
IdQ = Annotated[str, Query(max_length=64)]
PROBLEM_JSON = {"application/problem+json": {}}
UPLOAD_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "Tệp quá lớn", "content": PROBLEM_JSON},
    415: {"model": Problem, "description": "Kiểu tệp không được hỗ trợ", "content": PROBLEM_JSON},
}


class ImportProblem(Problem):
    rows: list[S.RejectedRow] = Field(default_factory=list)


def icons_dir(request: Request) -> Path:
    return request.app.state.settings.data_dir / "uploads" / "icons"


def category_out(c: Category) -> S.CategoryOut:
    return S.CategoryOut.model_validate({
        **{f: getattr(c, f) for f in ("id", "organization_id", "code", "name", "description", "parent_id",
                                      "sort_order", "is_active", "created_at", "updated_at")},
        "icon_url": f"/api/v1/categories/{c.id}/icon" if c.icon else None,
        "areas": [S.AreaRef.model_validate(a) for a in c.areas]})


def _tree_out(nodes: list[service.TreeNode]) -> list[S.CategoryNode]:
    return [S.CategoryNode(id=n.category.id, code=n.category.code, name=n.category.name,
                           description=n.category.description, sort_order=n.category.sort_order,
                           is_active=n.category.is_active,
                           icon_url=f"/api/v1/categories/{n.category.id}/icon" if n.category.icon else None,
                           area_ids=[a.id for a in n.category.areas], children=_tree_out(n.children))
            for n in nodes]


# --- areas --------------------------------------------------------------------------------------
@router.get("/areas", response_model=Paged[S.AreaOut], tags=["areas"],
            summary="Danh sách khu vực hành chính (CRM-26)")
def list_areas(db: DbDep, params: ListQ, scheme: SchemeQ = "",
               level: Annotated[int | None, Query(ge=1, le=3, description="1 tỉnh; 2, 3 theo sơ đồ")] = None,
               parent_id: IdQ = "", is_active: bool | None = None,
               p: Principal = requires("catalog.areas.read")):
    page = service.list_areas(db, p, params, scheme=scheme, level=level, parent_id=parent_id,
                              is_active=is_active)
    return page.as_dict(S.AreaOut.model_validate)


@router.get("/areas/tree", response_model=list[S.AreaNode], tags=["areas"],
            summary="Các khu vực con của một nút (cây mở dần); không có parent_id: các tỉnh/thành phố")
def area_tree(db: DbDep, parent_id: IdQ = "", scheme: SchemeQ = "", is_active: bool | None = None,
              p: Principal = requires("catalog.areas.read")):
    nodes = service.area_children(db, parent_id or None, scheme=scheme or "2025", is_active=is_active)
    return [S.AreaNode.model_validate({**S.AreaOut.model_validate(a).model_dump(), "children": n})
            for a, n in nodes]


@router.post("/areas", response_model=S.AreaOut, status_code=201, tags=["areas"],
             summary="Tạo khu vực theo mã hành chính quốc gia (CRM-29; chỉ quản trị hệ thống)")
def create_area(data: S.AreaIn, db: DbDep, p: Principal = requires("catalog.areas.write")):
    return service.create_area(db, p, data)


@router.get("/areas/{area_id}", response_model=S.AreaOut, tags=["areas"], summary="Chi tiết khu vực")
def get_area(area_id: str, db: DbDep, p: Principal = requires("catalog.areas.read")):
    return service.get_area(db, area_id)


@router.patch("/areas/{area_id}", response_model=S.AreaOut, tags=["areas"],
              summary="Sửa khu vực: mã, tên, loại, trạng thái (CRM-27; chỉ quản trị hệ thống)")
def update_area(area_id: str, data: S.AreaPatch, db: DbDep, p: Principal = requires("catalog.areas.write")):
    return service.update_area(db, p, area_id, data)


@router.delete("/areas/{area_id}", status_code=204, tags=["areas"],
               summary="Xóa khu vực chưa được dùng (CRM-28; chỉ quản trị hệ thống)")
def delete_area(area_id: str, db: DbDep, p: Principal = requires("catalog.areas.write")):
    service.delete_area(db, p, area_id)
    return Response(status_code=204)


# --- categories ---------------------------------------------------------------------------------
@router.get("/categories", response_model=Paged[S.CategoryOut], tags=["categories"],
            summary="Danh sách lĩnh vực (CRM-20); area_id: các lĩnh vực áp dụng tại khu vực")
def list_categories(db: DbDep, params: ListQ, organization_id: IdQ = "", parent_id: IdQ = "",
                    area_id: IdQ = "", is_active: bool | None = None,
                    p: Principal = requires("catalog.categories.read")):
    page = service.list_categories(db, p, params, organization_id=organization_id, parent_id=parent_id,
                                   area_id=area_id, is_active=is_active)
    return page.as_dict(category_out)


@router.get("/categories/tree", response_model=list[S.CategoryNode], tags=["categories"],
            summary="Cây lĩnh vực cha/con (CRM-20)")
def category_tree(db: DbDep, organization_id: IdQ = "", area_id: IdQ = "", is_active: bool | None = None,
                  q: Annotated[str, Query(max_length=200)] = "",
                  p: Principal = requires("catalog.categories.read")):
    nodes = service.category_tree(db, p, organization_id or None, area_id=area_id, is_active=is_active, q=q)
    return _tree_out(nodes)


@router.get("/categories/defaults", response_model=list[S.DefaultCategoryOut], tags=["categories"],
            summary="Bộ lĩnh vực mặc định (CRM-23)")
def default_categories(p: Principal = requires("catalog.categories.read")):
    return [S.DefaultCategoryOut(code=d.code, name=d.name, description=d.description, parent_code=parent)
            for d, parent in defaults.flatten()]


@router.post("/categories/from-defaults", response_model=S.DefaultsOut, tags=["categories"],
             summary="Tạo lĩnh vực từ bộ mặc định; bỏ qua mã đã có (CRM-23)")
def create_from_defaults(data: S.DefaultsIn, db: DbDep, p: Principal = requires("catalog.categories.write")):
    created, skipped = defaults.create_from_defaults(db, p, data.codes, data.organization_id)
    msg = f"Đã tạo {len(created)} lĩnh vực" + (f"; bỏ qua {len(skipped)} mã đã có." if skipped else ".")
    return S.DefaultsOut(created=[category_out(c) for c in created], skipped=skipped, message=msg)


def import_response(items: list[service.ImportedCategory]) -> S.ImportOut:
    return S.ImportOut(imported=[S.ImportedRow(row=i.row, id=i.category.id, code=i.category.code,
                                               name=i.category.name, parent_code=i.parent_code)
                                 for i in items],
                       message=f"Đã nhập {len(items)} lĩnh vực.")


def rejected_response(e: service.ImportRejected) -> JSONResponse:
    body = ImportProblem(title=e.title, status=e.status, detail=e.detail, errors=e.errors, rows=e.rows)
    return JSONResponse(body.model_dump(), status_code=e.status, media_type="application/problem+json")


@router.post("/categories/import", response_model=S.ImportOut, tags=["categories"],
             responses={**UPLOAD_PROBLEMS, 422: {"model": ImportProblem, "content": PROBLEM_JSON,
                                                 "description": "Có dòng không hợp lệ; không nhập dòng nào"}},
             summary="Nhập lĩnh vực từ tệp CSV: tất cả hoặc không dòng nào (CRM-21)")
async def import_categories(db: DbDep, file: Annotated[UploadFile, File(description=(
        "CSV UTF-8 (có hoặc không BOM), cột code,name,parent_code,description,area_codes "
        "(mã khu vực cách nhau bởi dấu chấm phẩy)"))],
        organization_id: Annotated[str | None, Form(max_length=64)] = None,
        scheme: Annotated[str, Form(pattern=r"^(2025|legacy)$")] = "2025",
        p: Principal = requires("catalog.categories.write")):
    content = await file.read(service.MAX_IMPORT_BYTES + 1)
    try:
        items = service.import_categories(db, p, content, organization_id=organization_id or None,
                                          scheme=scheme)
    except service.ImportRejected as e:
        return rejected_response(e)
    return import_response(items)


@router.post("/categories", response_model=S.CategoryOut, status_code=201, tags=["categories"],
             summary="Tạo lĩnh vực (CRM-22)")
def create_category(data: S.CategoryIn, db: DbDep, p: Principal = requires("catalog.categories.write")):
    return category_out(service.create_category(db, p, data))


@router.get("/categories/{category_id}", response_model=S.CategoryOut, tags=["categories"],
            summary="Chi tiết lĩnh vực")
def get_category(category_id: str, db: DbDep, p: Principal = requires("catalog.categories.read")):
    return category_out(service.get_category(db, p, category_id))


@router.patch("/categories/{category_id}", response_model=S.CategoryOut, tags=["categories"],
              summary="Sửa lĩnh vực (CRM-24)")
def update_category(category_id: str, data: S.CategoryPatch, db: DbDep,
                    p: Principal = requires("catalog.categories.write")):
    return category_out(service.update_category(db, p, category_id, data))


@router.delete("/categories/{category_id}", response_model=S.CategoryDeleteOut, tags=["categories"],
               summary="Xóa lĩnh vực; đang dùng thì chuyển ngừng sử dụng; lĩnh vực cha cần confirm_children "
                       "(CRM-25)")
def delete_category(category_id: str, request: Request, db: DbDep,
                    confirm_children: Annotated[bool, Query(
                        description="Xác nhận lần hai: xóa cả lĩnh vực con")] = False,
                    p: Principal = requires("catalog.categories.write")):
    out = service.delete_category(db, p, category_id, confirm_children=confirm_children,
                                  icons_dir=icons_dir(request))
    return S.CategoryDeleteOut(result=out.result, message=out.message, ids=out.ids)


@router.post("/categories/{category_id}/icon", response_model=S.CategoryOut, tags=["categories"],
             responses=UPLOAD_PROBLEMS,
             summary="Tải biểu tượng lĩnh vực: PNG, JPEG, SVG, WebP; tối đa 512 KB")
async def upload_icon(category_id: str, request: Request, db: DbDep,
                      file: Annotated[UploadFile, File(description="Ảnh PNG, JPEG, SVG hoặc WebP, ≤ 512 KB")],
                      p: Principal = requires("catalog.categories.write")):
    content = await file.read(service.MAX_ICON_BYTES + 1)
    return category_out(service.set_icon(db, p, category_id, content, icons_dir(request)))


@router.get("/categories/{category_id}/icon", response_class=FileResponse, tags=["categories"],
            responses={200: {"content": {t: {} for t in service.ICON_TYPES.values()}, "description": "Ảnh"}},
            summary="Biểu tượng lĩnh vực")
def get_icon(category_id: str, request: Request, db: DbDep,
             p: Principal = requires("catalog.categories.read")):
    path, media_type = service.icon_file(db, p, category_id, icons_dir(request))
    # an SVG is a document: never let it run scripts or load anything, even when opened directly
    return FileResponse(path, media_type=media_type, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"})
