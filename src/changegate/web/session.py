"""The web session: a cookie signed with itsdangerous, holding who is signed in and the CSRF token.

The cookie is signed (not encrypted) with a key kept in the database (services.passwords.shared_secret), so
every server process reads every other's cookies. Once signed in it carries the session's random secret,
whose row (services/web_sessions.py) every page checks: the session ends at sign-out, when the person's
password is set again, when someone ends it from the sessions page, or SESSION_HOURS after sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "changegate_session"
SESSION_HOURS = 8
_SALT = "changegate.web.session"


def serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


@dataclass
class WebSession:
    person: str | None = None
    secret: str = ""  # the session's secret: its SHA-256 names the session's row
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    flash: str = ""  # one sentence shown on the next page, e.g. "CHG-7 approved"
    modified: bool = False

    def sign_in(self, person: str, secret: str) -> None:
        # A new CSRF token with every change of identity: a token seen before sign-in is worthless after.
        self.person, self.secret, self.csrf, self.modified = person, secret, secrets.token_urlsafe(32), True

    def sign_out(self) -> None:
        self.person, self.secret, self.csrf, self.modified = None, "", secrets.token_urlsafe(32), True

    def say(self, sentence: str) -> None:
        self.flash, self.modified = sentence, True

    def take_flash(self) -> str:
        sentence, self.flash = self.flash, ""
        if sentence:
            self.modified = True
        return sentence

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


def read(request: Request, signer: URLSafeTimedSerializer) -> WebSession:
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = signer.loads(raw, max_age=SESSION_HOURS * 3600)
            return WebSession(person=data.get("p"), secret=data.get("s", ""), csrf=data["c"], flash=data.get("f", ""))
        except (BadSignature, KeyError, TypeError, AttributeError):
            pass  # forged, expired or from another key: start afresh
    return WebSession(modified=True)


def write(response: Response, session: WebSession, signer: URLSafeTimedSerializer, *, secure: bool) -> None:
    data = {"c": session.csrf, **({"p": session.person, "s": session.secret} if session.person else {}),
            **({"f": session.flash} if session.flash else {})}
    response.set_cookie(COOKIE, signer.dumps(data), max_age=SESSION_HOURS * 3600, httponly=True, samesite="lax",
                        secure=secure, path="/")
