"""CSRF protection for every page form: a signed double-submit token (OWASP's "signed double-submit cookie").

Each browser gets a random secret in an HttpOnly cookie; every form carries that secret signed with the
server's key. A POST acts only when the form's token verifies and names the cookie's secret: another site
can make a browser send the cookie, but cannot read it, nor sign a token for it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData

from api.problems import ProblemError
from pledgeflow.core.settings import Settings

COOKIE = "pf_csrf"
FIELD = "csrf_token"
REFUSED = "This form could not be accepted: it did not carry this site's security token. Reload the page and try again."


def secure_cookies(settings: Settings) -> bool:
    return settings.public_base_url.lower().startswith("https://")


class CsrfGuard:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._signer = URLSafeSerializer(settings.signing_key(), salt="pages-csrf")

    def browser_secret(self, request: Request) -> tuple[str, bool]:
        """The secret of this browser (and whether it is new), the same for every page of one request."""
        known: str | None = getattr(request.state, "csrf_secret", None)
        if known is not None:
            return known, False
        cookie = request.cookies.get(COOKIE)
        if cookie and len(cookie) <= 100:
            secret, is_new = cookie, False
        else:
            secret, is_new = secrets.token_urlsafe(24), True
        request.state.csrf_secret = secret
        return secret, is_new

    def token_for(self, secret: str) -> str:
        return self._signer.dumps(secret)

    def set_cookie(self, response: Response, secret: str) -> None:
        response.set_cookie(
            COOKIE, secret, httponly=True, samesite="lax", secure=secure_cookies(self._settings), path="/"
        )

    def check(self, request: Request, form: FormData) -> None:
        """Refuse (403) a form without this browser's token; call before anything else in a POST."""
        cookie = request.cookies.get(COOKIE)
        token = form.get(FIELD)
        if not cookie or not isinstance(token, str) or not token:
            raise ProblemError(403, REFUSED)
        try:
            signed = self._signer.loads(token)
        except BadSignature as exc:
            raise ProblemError(403, REFUSED) from exc
        if not isinstance(signed, str) or not hmac.compare_digest(signed, cookie):
            raise ProblemError(403, REFUSED)
