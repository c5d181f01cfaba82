"""Is a request coming from this machine? (Local mode offers sign-in only then.)"""

from __future__ import annotations

import ipaddress

from flask import Request

from upload_service.settings import Settings

_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_LOOPBACK_NAMES = {"localhost"}


def is_loopback_address(address: str | None) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """A host name or address that can only mean this machine."""
    return bool(host) and (host in _LOOPBACK_NAMES or is_loopback_address(host))


def is_local_request(request: Request, settings: Settings) -> bool:
    """Whether the client is on this machine.

    ``remote_addr`` honours ``TRUSTED_PROXIES`` (ProxyFix). Without trusted proxies, a request
    carrying forwarding headers came through a proxy on this machine on behalf of someone
    else, so it is not local even though its address is loopback.
    """
    if not settings.TRUSTED_PROXIES and any(h in request.headers for h in _FORWARDING_HEADERS):
        return False
    return is_loopback_address(request.remote_addr)
