"""ASGI middleware that refuses input no database can store (NUL characters) and oversized bodies,
with a clear 400/413 instead of a failure deep inside a driver."""

from __future__ import annotations

import json

MAX_FORM_BODY = 2 * 1024 * 1024  # JSON and urlencoded bodies; uploads (multipart) have their own limits


class InputGuard:
    def __init__(self, app):
        self.app = app

    async def _reject(self, send, status: int, detail: str) -> None:
        body = json.dumps({"type": "about:blank", "title": "Yêu cầu không hợp lệ" if status == 400 else
                           "Dữ liệu gửi lên quá lớn", "status": status, "detail": detail, "errors": []},
                          ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        qs = scope.get("query_string", b"")
        if b"%00" in raw_path or b"\x00" in raw_path or b"%00" in qs or b"\x00" in qs:
            if scope["type"] == "http":
                return await self._reject(send, 400, "Đường dẫn hoặc tham số chứa ký tự NUL không hợp lệ.")
            return
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        ctype = b""
        for k, v in scope.get("headers", []):
            if k == b"content-type":
                ctype = v.lower()
        if b"multipart/" in ctype:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BODY:
                return await self._reject(send, 413, "Dữ liệu gửi lên vượt quá 2 MB.")
            chunks.append(chunk)
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        if b"\x00" in body or b"\\u0000" in body or b"%00" in body:
            return await self._reject(send, 400, "Dữ liệu chứa ký tự NUL không hợp lệ.")
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
