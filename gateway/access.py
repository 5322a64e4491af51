"""What each request needs: the one table from routes to permissions, and the check.

Permissions are globs over ``service.method`` (``calculator.*``, ``cache.get``, ``*``) plus
``metrics``. A hand-written route needs the permission of the Thrift method it calls, so
that a client allowed ``cache.get`` may read through ``GET /cache/k``, ``GET /get/k`` and
``POST /rpc/cache/get`` alike, and write through none of them.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from gateway.auth import Client
from gateway.errors import Forbidden

OPEN = "open"  # no credentials needed: health checks (and CORS preflights, in guard.py)
AUTHENTICATED = "authenticated"  # any valid credentials
DEFERRED = "deferred"  # the handler names the permission once it has read the body
CLIENT_ENVIRON_KEY = "gateway.client"

_CACHE_BY_METHOD = {"GET": "cache.get", "HEAD": "cache.get", "PUT": "cache.put", "DELETE": "cache.remove"}


def requirement(method: str, path: str) -> str:
    """OPEN, AUTHENTICATED, DEFERRED, or the permission a request needs."""
    if path in ("/healthz", "/readyz"):
        return OPEN
    if path == "/metrics":
        return "metrics"
    parts = path.split("/")  # "/calc/add/1/2" -> ["", "calc", "add", "1", "2"]
    head = parts[1] if len(parts) > 1 else ""
    if head == "add" and len(parts) == 4:
        return "calculator.add"
    if head == "calc":
        if method == "POST" and len(parts) == 2:
            return DEFERRED  # POST /calc: the operation is in the body
        if len(parts) == 5:
            return f"calculator.{parts[2]}"
    if head == "cache" and len(parts) > 2:
        return _CACHE_BY_METHOD.get(method, AUTHENTICATED)
    if path == "/set":
        return "cache.put"
    if head == "get" and len(parts) > 2:
        return "cache.get"
    if head == "rpc" and len(parts) == 4:
        return f"{parts[2]}.{parts[3]}"
    return AUTHENTICATED  # /rpc, /openapi.json, /docs, and whatever else: valid credentials


def allows(client: Client, permission: str) -> bool:
    return any(fnmatchcase(permission, granted) for granted in client.permissions)


def check(client: Client, permission: str) -> None:
    if not allows(client, permission):
        raise Forbidden(f"{client.name or 'this client'} lacks the permission {permission!r}")


def require(environ: dict[str, Any], permission: str) -> None:
    """For a DEFERRED route: the check, once the handler knows the permission."""
    client = environ.get(CLIENT_ENVIRON_KEY)
    if client is not None:  # None: the guard is not installed (unit tests of handlers)
        check(client, permission)
