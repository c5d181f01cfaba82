"""The session cookie: signed, HttpOnly, SameSite=Lax, and Secure whenever we are on https."""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class RequestAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the cookie Secure when the request came over https.

    ``request.is_secure`` honours ``X-Forwarded-Proto`` from ``TRUSTED_PROXIES`` (ProxyFix), so
    one configuration serves both ``http://localhost`` and a TLS-terminating proxy.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        if has_request_context() and request.is_secure:
            return True
        return super().get_cookie_secure(app)
