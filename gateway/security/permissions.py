"""Permissions: whether a client holds the one a route needs.

Permissions are globs over ``service.method`` (``calculator.*``, ``cache.get``, ``*``) plus
``metrics``. Which one a route needs is declared with the route (``gateway/http/routes.py``):
a hand-written route needs the permission of the Thrift method it calls, so that a client
allowed ``cache.get`` may read through ``GET /cache/k``, ``GET /get/k`` and
``POST /rpc/cache/get`` alike, and write through none of them.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from gateway.errors import Forbidden
from gateway.security.auth import Client

CLIENT_ENVIRON_KEY = "gateway.client"


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
