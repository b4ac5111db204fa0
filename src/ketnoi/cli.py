"""Command line: `ketnoi serve | demo | db upgrade | admin create` (and more as domains arrive)."""

from __future__ import annotations

import logging
from pathlib import Path  # Typer reads the annotations at runtime

import typer

from ketnoi.settings import get_settings

app = typer.Typer(help="ketnoi — nền tảng kết nối Chính quyền – Công dân (tổng đài 1022).", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Cơ sở dữ liệu: migration.", no_args_is_help=True)
admin_app = typer.Typer(help="Tài khoản quản trị.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
catalog_app = typer.Typer(help="Danh mục: khu vực hành chính, lĩnh vực.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _database():
    from ketnoi.db.session import init_database

    return init_database(get_settings())


def _prepare():
    from ketnoi.bootstrap import prepare

    settings = get_settings()
    db = _database()
    prepare(settings, db)
    return settings, db


@app.command()
def serve(host: str = typer.Option(None, help="Địa chỉ lắng nghe (mặc định KETNOI_HOST)"),
          port: int = typer.Option(None, help="Cổng (mặc định KETNOI_PORT)"),
          demo: bool = typer.Option(False, "--demo", help="Nạp dữ liệu mẫu trước khi chạy"),
          no_telephony: bool = typer.Option(False, "--no-telephony", help="Không chạy tổng đài (SIP/RTP)")):
    """Migrate, create the first administrator if needed, and serve the console and API."""
    import uvicorn

    from ketnoi.app import create_app
    from ketnoi.bootstrap import ensure_first_admin

    settings, db = _prepare()
    if no_telephony:
        settings.telephony = False
    created = ensure_first_admin(settings, db)
    if demo:
        from ketnoi.demo import load_demo

        typer.echo(load_demo(db))
    host = host or settings.host
    port = port or settings.port
    typer.echo("")
    typer.echo(f"ketnoi đang chạy tại http://{host}:{port}  (API: http://{host}:{port}/api/docs)")
    if created:
        typer.echo(f"Quản trị hệ thống đầu tiên: tên đăng nhập '{created[0]}', mật khẩu '{created[1]}'")
        typer.echo("(Mật khẩu chỉ hiển thị lần này; đổi nó sau khi đăng nhập.)")
    else:
        typer.echo(f"Đăng nhập bằng tài khoản quản trị đã tạo trước đó (mặc định '{settings.admin_username}').")
    typer.echo("")
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings, db), host=host, port=port, log_level=settings.log_level,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)


@app.command()
def demo():
    """Load the demo organization (departments, users of every role, sample data)."""
    from ketnoi.demo import load_demo

    _, db = _prepare()
    typer.echo(load_demo(db))


@db_app.command("upgrade")
def db_upgrade():
    """Apply every pending migration (SQLite or PostgreSQL per KETNOI_DATABASE_URL)."""
    settings, _ = _prepare()
    from ketnoi.db.migrate import current

    typer.echo(f"Cơ sở dữ liệu đã ở phiên bản {current(settings.effective_database_url)}.")


@admin_app.command("create")
def admin_create(username: str = typer.Argument(..., help="Tên đăng nhập"),
                 password: str = typer.Option(..., prompt="Mật khẩu", hide_input=True, confirmation_prompt=True,
                                              help="Mật khẩu (hỏi khi không truyền)"),
                 full_name: str = typer.Option("Quản trị hệ thống", help="Họ và tên")):
    """Create a system administrator (no organization, no department — PERM-09)."""
    from ketnoi.core.errors import DomainError
    from ketnoi.identity.users import create_first_admin

    _, db = _prepare()
    try:
        with db.session() as s:
            create_first_admin(s, username, password, full_name)
    except DomainError as e:
        typer.echo(f"Lỗi: {e.detail}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Đã tạo quản trị hệ thống '{username.lower()}'.")


@catalog_app.command("load-areas")
def catalog_load_areas(scheme: str = typer.Option("2025", "--scheme",
                                                  help="2025 (2 cấp) hoặc legacy (3 cấp)"),
                       province: list[str] = typer.Option(None, "--province",
                                                          help="Chỉ nạp tỉnh có mã này (lặp lại được)")):
    """Load Vietnam's administrative units (idempotent upsert by scheme and national code — CRM-26)."""
    import time

    from ketnoi.catalog.areas_data import load_areas
    from ketnoi.core.errors import DomainError

    if scheme not in ("2025", "legacy"):
        typer.echo("Lỗi: --scheme phải là 2025 hoặc legacy.", err=True)
        raise typer.Exit(2)
    _, db = _prepare()
    started = time.monotonic()
    try:
        with db.session() as s:
            result = load_areas(s, scheme, provinces=province or None)
    except DomainError as e:
        typer.echo(f"Lỗi: {e.detail}", err=True)
        raise typer.Exit(1)
    typer.echo(result.summary())
    typer.echo(f"Xong trong {time.monotonic() - started:.1f} giây.")


# --- knowledge base: procedures import and search index (KB-02, KB-11) ---------------------------
knowledge_app = typer.Typer(help="Cơ sở tri thức: nhập thủ tục hành chính, chỉ mục tìm kiếm.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


def _knowledge_organization(db, code: str | None):
    """The organization named by ``code``, else the only (or first created) one; None when none."""
    from sqlalchemy import select

    from ketnoi.identity.models import Organization

    with db.session() as s:
        stmt = select(Organization.id, Organization.code, Organization.name)
        if code:
            stmt = stmt.where(Organization.code == code)
        return s.execute(stmt.order_by(Organization.created_at, Organization.code).limit(1)).first()


@knowledge_app.command("import")
def knowledge_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                                 help="Tệp .jsonl hoặc .jsonl.gz (định dạng cổng dịch vụ công)"),
                     organization: str = typer.Option(None, "--organization",
                                                      help="Mã tổ chức (mặc định: tổ chức duy nhất/đầu tiên)")):
    """Import procedures: upsert by code, answers from the sections, indexed as they are written."""
    import time

    from ketnoi.knowledge.importer import import_jsonl

    _, db = _prepare()
    org = _knowledge_organization(db, organization)
    if org is None:
        typer.echo(f"Lỗi: không có tổ chức mã '{organization}'." if organization else
                   "Lỗi: chưa có tổ chức nào; tạo tổ chức trước (hoặc chạy `ketnoi demo`).", err=True)
        raise typer.Exit(1)
    typer.echo(f"Nhập {file.name} vào tổ chức {org.code} – {org.name}")
    started = time.monotonic()

    def progress(r) -> None:
        rate = r.read / max(time.monotonic() - started, 1e-6)
        typer.echo(f"  {r.read} dòng: thêm {r.inserted}, cập nhật {r.updated}, lỗi {len(r.errors)} "
                   f"({rate:.0f} dòng/giây)")

    result = import_jsonl(db.session, file, org.id, progress=progress)
    for e in result.errors[:50]:
        typer.echo(f"  dòng {e.line}: {e.message}", err=True)
    if len(result.errors) > 50:
        typer.echo(f"  … và {len(result.errors) - 50} lỗi khác", err=True)
    typer.echo(result.summary())
    typer.echo(f"Xong trong {time.monotonic() - started:.1f} giây.")


@knowledge_app.command("reindex")
def knowledge_reindex(organization: str = typer.Option(None, "--organization",
                                                       help="Chỉ tổ chức có mã này (mặc định: tất cả)")):
    """Rebuild the search index of procedures and events from the database."""
    import time

    from ketnoi.knowledge.search import rebuild

    _, db = _prepare()
    org_id = None
    if organization:
        org = _knowledge_organization(db, organization)
        if org is None:
            typer.echo(f"Lỗi: không có tổ chức mã '{organization}'.", err=True)
            raise typer.Exit(1)
        org_id = org.id
    started = time.monotonic()
    with db.session() as s:
        n = rebuild(s, org_id)
    typer.echo(f"Đã lập lại chỉ mục tìm kiếm cho {n} thủ tục và sự kiện trong {time.monotonic() - started:.1f} giây.")


reports_app = typer.Typer(help="Phản ánh: chỉ mục tìm kiếm.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("reindex")
def reports_reindex():
    """Rebuild the free-text search index of reports (after a bulk load or a restore)."""
    import time

    from ketnoi.reports.search import rebuild

    _, db = _prepare()
    started = time.monotonic()

    def progress(n: int) -> None:
        typer.echo(f"  {n:,} phản ánh ({n / max(time.monotonic() - started, 1e-6):,.0f}/giây)".replace(",", "."))

    with db.engine.begin() as c:
        n = rebuild(c, batch=20000, progress=progress)
    typer.echo(f"Đã lập lại chỉ mục tìm kiếm cho {n:,} phản ánh trong {time.monotonic() - started:.1f} giây."
               .replace(",", "."))


if __name__ == "__main__":
    app()
