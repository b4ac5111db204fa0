"""Helpers of the console's list pages: the notice redirect after an action, day filters in the
organization's time zone, and the Excel download that hands large selections to a background job
(CRM-03, 30, 34…36; SMS-07)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask

from ketnoi.jobs import service as jobs
from ketnoi.jobs.api import media_type


def done_redirect(url: str, msg: str, *, error: bool = False) -> RedirectResponse:
    """303 to ``url`` with ``msg`` (or ``err``) in its query, before any ``#fragment``."""
    url, hash_, fragment = url.partition("#")
    sep = "&" if "?" in url else "?"
    key = "err" if error else "msg"
    return RedirectResponse(f"{url}{sep}{key}={quote(msg)}{hash_}{fragment}", status_code=303)


def local_tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.timezone)


def parse_day(value: str | None, tz: ZoneInfo) -> datetime | None:
    """``YYYY-MM-DD`` as the start of that day in ``tz``; None when empty or malformed."""
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%d").replace(tzinfo=tz)
    except ValueError:
        return None


def xlsx_download(request: Request, list_path: str, *, total: int, limit: int,
                  start_job: Callable[[], Any], write: Callable[[Path], int], audit: Callable[[int], object],
                  file_name: Callable[[], str]) -> Response:
    """The list as .xlsx, named ``file_name()``: written now when it has at most ``limit`` rows
    (``write(path)`` returns the row count, then ``audit(rows)``), otherwise a job from ``start_job()``
    whose progress page the browser is sent to, with a way back to ``list_path`` and its query."""
    if total > limit:
        job = start_job()
        back = list_path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/jobs/{job.id}?back={quote(back, safe='')}", status_code=303)
    fd, name = tempfile.mkstemp(suffix=".xlsx", dir=jobs.scratch_dir())
    os.close(fd)
    try:
        n = write(Path(name))
    except BaseException:
        os.unlink(name)
        raise
    audit(n)
    return FileResponse(name, filename=file_name(), media_type=media_type(Path(name)),
                        background=BackgroundTask(os.unlink, name))
