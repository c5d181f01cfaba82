"""Rate limits: one budget per user (per client IP when anonymous), shared by every route.

Counters live in ``RATELIMIT_STORAGE_URI`` (``memory://`` for one process, ``redis://...`` when
several instances must share them). A breach raises flask-limiter's ``RateLimitExceeded`` (an
HTTP 429), which the one error handler renders with ``code: "rate_limited"``; flask-limiter's
after-request hook then adds ``Retry-After`` and the ``X-RateLimit-*`` headers to that response.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter
from limits import parse_many
from limits.errors import ConfigurationError

from upload_service.auth.current import current_user
from upload_service.errors import ServiceError
from upload_service.runtime import Runtime
from upload_service.settings import Settings, SettingsError

# Probes, metrics scrapes and static assets are never limited: a busy monitoring system or a
# page with many assets must not lock a user out (nor be locked out).
EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")
EXEMPT_PREFIXES = ("/static/",)
_REDIS_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 2}


def init_rate_limits(app: Flask, runtime: Runtime) -> Limiter | None:
    """Attach the limiter to ``app`` unless ``RATELIMIT_ENABLED`` is off."""
    settings = runtime.settings
    if not settings.RATELIMIT_ENABLED:
        return None
    _check_limit_setting(settings)
    app.config.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_HEADERS_ENABLED=True,
        # Storage down (Redis restarting): keep limiting with per-process counters and switch
        # back when it recovers, rather than failing every request.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    storage_options = _REDIS_TIMEOUTS if settings.RATELIMIT_STORAGE_URI.startswith("redis") else {}
    limiter = Limiter(
        rate_limit_key,
        # An application limit is one budget shared by all routes; a default limit would give
        # every route its own budget, multiplying the allowance by the number of routes.
        application_limits=[
            ApplicationLimit(
                settings.RATELIMIT_DEFAULT,
                error_message=f"Too many requests (limit: {settings.RATELIMIT_DEFAULT}). "
                "Retry after the number of seconds in Retry-After.",
            )
        ],
        storage_uri=settings.RATELIMIT_STORAGE_URI,
        storage_options=storage_options,  # type: ignore[arg-type]
        key_prefix=settings.RATELIMIT_KEY_PREFIX,
    )
    limiter.request_filter(is_exempt)
    # Registered before the limiter's own hook, so it runs after it (Flask runs them reversed).
    app.after_request(_retry_after_only_when_refused)
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise SettingsError(f"invalid setting RATELIMIT_STORAGE_URI: {exc}") from None
    return limiter


def rate_limit_key() -> str:
    """Our user id when the request is authenticated, else the client's IP address.

    ``remote_addr`` honours ``TRUSTED_PROXIES`` through ProxyFix, so a client can only choose its
    ``X-Forwarded-For`` when it is one of the trusted hops.
    """
    try:
        user = current_user()
    except ServiceError:  # e.g. GitHub cannot check the token; the view reports that itself
        user = None
    if user is not None:
        return f"user:{user.id}"
    return f"ip:{request.remote_addr or 'unknown'}"


def is_exempt() -> bool:
    return is_exempt_path(request.path)


def is_exempt_path(path: str) -> bool:
    """Whether requests to ``path`` are never limited (the OpenAPI document says so too)."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def _retry_after_only_when_refused(response: Response) -> Response:
    """flask-limiter puts ``Retry-After`` on every response; it means something on 429 only."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def _check_limit_setting(settings: Settings) -> None:
    """Fail at start-up, not on the first request, when ``RATELIMIT_DEFAULT`` can't be parsed."""
    try:
        parsed = parse_many(settings.RATELIMIT_DEFAULT)
    except ValueError:
        parsed = []
    if not parsed:
        raise SettingsError(
            f"invalid setting RATELIMIT_DEFAULT: {settings.RATELIMIT_DEFAULT!r} is not a limit "
            "such as '1200 per minute' or '20/second;1000/hour'"
        )
