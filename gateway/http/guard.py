"""The one choke point for what applies to every request: CORS, authentication,
permissions, rate limits.

WSGI middleware around both routers (the direct path and Flask), so that no route can be
reached around it, whichever code path answers it. Its refusals are the same problem
documents every route answers with, and nothing it refuses reaches a backend.

Order: a CORS preflight is answered first (browsers send no credentials with it);
``OPEN`` routes (``/healthz``, ``/readyz``) are never checked or limited; everything else
is authenticated (401 - the refused attempt counted against its remote address, so that
guessing keys is rate limited too), counted against the client's rate limit (429; by its
name when authenticated, else by the remote address), then checked against the
permission of the route ``RouteMatcher`` matched (403; a ``DEFERRED`` route, ``POST
/calc``, is checked by its handler once it has read the operation from the body; a
request that matched no route reaches nothing and needs only valid credentials).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from gateway.config import Settings
from gateway.errors import GatewayError, RateLimited, Unauthenticated
from gateway.http import problems, routing
from gateway.http.wsgi_types import Environ, StartResponse, WSGIApp
from gateway.security import permissions
from gateway.security.auth import Authenticator, NoAuth, authenticator
from gateway.security.cors import Cors
from gateway.security.ratelimit import RateLimiter, rate_limiter

Dumps = Callable[[Any], str]  # the JSON provider's compact encoder


class Guard:
    def __init__(self, app: WSGIApp, dumps: Dumps, *, auth: Authenticator | None = None,
                 limiter: RateLimiter | None = None, cors: Cors | None = None) -> None:
        self._app = app
        self._dumps = dumps
        self._auth = auth or NoAuth()
        self._limiter = limiter
        self._cors = cors

    @property
    def idle(self) -> bool:
        """Nothing configured: the guard would only pass requests through."""
        return not self._auth.required and self._limiter is None and self._cors is None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        cors = self._cors.answer_headers(environ) if self._cors is not None else []
        if self._cors is not None and Cors.is_preflight(environ):
            headers = self._cors.preflight_headers(environ)
            if headers is not None:
                start_response("204 NO CONTENT", headers)
                return [b""]
        extra: list[tuple[str, str]] = list(cors)
        try:
            self._admit(environ, extra)
        except GatewayError as err:
            return problems.write_problem(_adding(start_response, extra), self._dumps, err)
        return self._app(environ, _adding(start_response, extra) if extra else start_response)

    def _admit(self, environ: Environ, extra: list[tuple[str, str]]) -> None:
        match: routing.Match | None = environ.get(routing.MATCH_ENVIRON_KEY)
        needed = match.route.access if match is not None else routing.AUTHENTICATED
        if needed is routing.OPEN:
            return
        try:
            client = self._auth.authenticate(environ)
        except Unauthenticated:
            # A refused attempt counts against its address: guessing keys is limited too.
            self._count(f"addr:{environ.get('REMOTE_ADDR', '')}", extra)
            raise
        environ[permissions.CLIENT_ENVIRON_KEY] = client
        # Counted before the permission check, so that refused requests count as well.
        self._count(client.name or f"addr:{environ.get('REMOTE_ADDR', '')}", extra)
        if match is not None and needed.kind == "permission":
            permissions.check(client, needed.permission(match.params))

    def _count(self, key: str, extra: list[tuple[str, str]]) -> None:
        if self._limiter is None:
            return
        decision = self._limiter.hit(key)
        extra.extend(decision.headers().items())
        if not decision.allowed:
            raise RateLimited(f"over the rate limit of {decision.limit} requests per window; "
                              f"the window resets in {decision.reset_s} s",
                              retry_after_s=max(1, decision.reset_s), rate_headers={})


def _adding(start_response: StartResponse, extra: list[tuple[str, str]]) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, headers + extra, exc_info)

    return start


def build(settings: Settings, app: WSGIApp, dumps: Dumps, counters_file: Path) -> WSGIApp:
    """The guard ``settings`` ask for around ``app``, or ``app`` itself when they ask for
    nothing (auth off, no limits, no CORS: v1's behaviour, at v1's cost)."""
    guard = Guard(
        app, dumps, auth=authenticator(settings),
        limiter=rate_limiter(settings.rate_limit, settings.rate_limit_storage, counters_file)
        if settings.rate_limit else None,
        cors=Cors(settings.cors_origins) if settings.cors_origins else None,
    )
    return app if guard.idle else guard


def check(settings: Settings) -> None:
    """Everything ``build`` would refuse, without building it (Gunicorn's master)."""
    from gateway.security.ratelimit import check_rate, check_storage

    authenticator(settings)
    if settings.rate_limit:
        check_rate(settings.rate_limit)
        check_storage(settings.rate_limit_storage)
