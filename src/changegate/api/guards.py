"""Request guards that run before any route: a cap on the body's size and a check of the query string.

Both are pure ASGI middleware: the body cap must act before the body is read (a route reading a 50 MB
title into memory and then refusing it is already too late), and the query check covers every
parameter of every route once, instead of a constrained type on each route's signature.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..schemas.common import char_name

# Evidence uploads, SQL checks and CMDB imports carry files: they keep the (larger) evidence limit, plus
# room for the multipart envelope and the JSON quoting around the scripts. Without /api/v1: the web page's upload.
_UPLOAD_PATH = re.compile(r"^(/api/v1)?/changes/[^/]+/(evidence|sql-check)$|^/api/v1/cmdb/import$")
_ENVELOPE = 64 * 1024

# What no query parameter may hold: NUL (PostgreSQL's text cannot store it) and the other controls.
_BAD_IN_QUERY = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An HTTPException, so that FastAPI's
    body parsing lets it through (it turns other errors into 400) and api/errors answers 413."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes",
                         headers={"Connection": "close"})


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


def _too_large(limit: int) -> dict:
    return {"error": "payload_too_large", "message": f"the request body is larger than the limit of {limit} bytes",
            "field": "body"}


class BodyLimit:
    """413 for a body over the limit: at once from Content-Length, or as a streamed body's bytes arrive."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max(max_body_bytes, max_upload_bytes + _ENVELOPE)

    def limit_for(self, path: str) -> int:
        return self.max_upload_bytes if _UPLOAD_PATH.match(path) else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, _too_large(limit), [(b"connection", b"close")])
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_json(send, 413, _too_large(limit), [(b"connection", b"close")])


class QueryCheck:
    """422 naming the parameter for a query value holding a control character (NUL above all)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            problem = self.problem(scope["query_string"].decode("latin-1"))
            if problem:
                name, message = problem
                await _send_json(send, 422, {"error": "invalid_input", "message": f"{name}: {message}",
                                             "field": name, "errors": [{"field": name, "message": message}]})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def problem(query: str) -> tuple[str, str] | None:
        # Decoded as Starlette decodes it for the routes (invalid UTF-8 becomes U+FFFD, which is harmless).
        for name, value in parse_qsl(query, keep_blank_values=True):
            for text in (name, value):
                bad = _BAD_IN_QUERY.search(text)
                if bad:
                    return _printable(name), f"contains {char_name(bad.group())} at position {bad.start()}"
        return None


def _printable(name: str) -> str:
    return _BAD_IN_QUERY.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
