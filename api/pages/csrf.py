"""CSRF protection for every page form: signed tokens bound to a secret of the browser, or of its staff session.

OWASP's "signed double-submit cookie", bound to the session where there is one: every form carries a
secret signed with the server's key, and a POST acts only when the token verifies and names the expected
secret. For the staff's forms that is the staff session's own secret, kept on the server, so a cookie
planted in the browser (and a token an attacker made for it) does not pass; for the other forms it is the
secret in this browser's cookie. Over https the cookie is ``__Host-pf_csrf``: Secure, Path=/, no Domain,
so no sibling domain can set it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData

from api.problems import ProblemError
from pledgeflow.auth.staff_sessions import LiveSession
from pledgeflow.core.settings import Settings

FIELD = "csrf_token"
REFUSED = "This form could not be accepted: it did not carry this site's security token. Reload the page and try again."


def cookie_name(settings: Settings) -> str:
    return "__Host-pf_csrf" if settings.https else "pf_csrf"


class CsrfGuard:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cookie = cookie_name(settings)
        self._signer = URLSafeSerializer(settings.signing_key(), salt="pages-csrf")

    def browser_secret(self, request: Request) -> tuple[str, bool]:
        """The secret of this browser (and whether it is new), the same for every page of one request."""
        known: str | None = getattr(request.state, "csrf_secret", None)
        if known is not None:
            return known, False
        cookie = request.cookies.get(self._cookie)
        if cookie and len(cookie) <= 100:
            secret, is_new = cookie, False
        else:
            secret, is_new = secrets.token_urlsafe(24), True
        request.state.csrf_secret = secret
        return secret, is_new

    def token_for(self, secret: str) -> str:
        return self._signer.dumps(secret)

    def set_cookie(self, response: Response, secret: str) -> None:
        response.set_cookie(self._cookie, secret, httponly=True, samesite="lax", secure=self._settings.https, path="/")

    def check(self, request: Request, form: FormData, staff_session: LiveSession | None = None) -> None:
        """Refuse (403) a form without the expected token; call before anything else in a POST. A staff
        form must carry its session's token, any other this browser's."""
        expected = staff_session.row.csrf_secret if staff_session is not None else request.cookies.get(self._cookie)
        token = form.get(FIELD)
        if not expected or not isinstance(token, str) or not token:
            raise ProblemError(403, REFUSED)
        try:
            signed = self._signer.loads(token)
        except BadSignature as exc:
            raise ProblemError(403, REFUSED) from exc
        if not isinstance(signed, str) or not hmac.compare_digest(signed, expected):
            raise ProblemError(403, REFUSED)
