"""The API routes answered without Flask's per-request machinery.

Flask spends about as long on a request as a whole backend call does: it builds a
request context, an app context, a URL adapter, a session, sends signals and builds a
``Response`` object (~130 µs of a worker's CPU per request here, measured against a bare
WSGI route on the same Gunicorn). For the routes of ``api.py`` that work buys nothing,
so this WSGI layer matches them itself and runs the same handler functions Flask would.

It only ever takes a request Flask would route to the same handler with the same
parameters: the method must be the rule's own (HEAD, OPTIONS and wrong methods go to
Flask, which answers them as before) and the path ASCII (so no question of how a
non-ASCII path decodes arises) with non-empty segments. Everything else - and every
other route - falls through to Flask unchanged. Errors become the same problem
documents through ``problems.for_exception``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from gateway import problems
from gateway.api import Context, Environ, Route
from gateway.observability import ROUTE_ENVIRON_KEY

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Dumps = Callable[[Any], str]  # the JSON provider's compact encoder

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


class Pattern:
    """A rule of the form ``/literal/<a>/<b>`` or ``/literal/<name:key>`` as a matcher:
    ``<name>`` takes one non-empty segment, a final ``<name:key>`` the non-empty rest."""

    def __init__(self, rule: str) -> None:
        self.prefix = rule.split("<", 1)[0]
        params = _PARAM.findall(rule)
        self.names = tuple(name for _, name in params)
        self.greedy = bool(params) and params[-1][0] == "key"
        shape = self.prefix + "/".join(f"<{c}:{n}>" if c else f"<{n}>" for c, n in params)
        if (shape != rule or (params and not self.prefix.endswith("/"))
                or any(c not in ("", "key") for c, _ in params) or any(c for c, _ in params[:-1])):
            raise ValueError(f"rule {rule!r} has a shape the direct path does not match")

    def match(self, path: str) -> dict[str, str] | None:
        if not self.names:
            return {} if path == self.prefix else None
        if not path.startswith(self.prefix):
            return None
        rest = path[len(self.prefix):]
        parts = rest.split("/", len(self.names) - 1) if self.greedy else rest.split("/")
        if len(parts) != len(self.names) or not all(parts):
            return None
        return dict(zip(self.names, parts))


class DirectRoutes:
    """WSGI: answers ``routes`` itself, hands every other request to ``fallback``."""

    def __init__(self, routes: Iterable[Route], context: Context, dumps: Dumps, fallback: WSGIApp) -> None:
        self._by_method: dict[str, list[tuple[Pattern, Route]]] = {}
        for route in routes:
            self._by_method.setdefault(route.method, []).append((Pattern(route.rule), route))
        self._context = context
        self._dumps = dumps
        self._fallback = fallback

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        candidates = self._by_method.get(environ.get("REQUEST_METHOD", ""))
        if candidates and path.isascii():
            for pattern, route in candidates:
                params = pattern.match(path)
                if params is not None:
                    return self._answer(route, params, environ, start_response)
        return self._fallback(environ, start_response)

    def _answer(self, route: Route, params: dict[str, str], environ: Environ,
                start_response: StartResponse) -> Iterable[bytes]:
        environ[ROUTE_ENVIRON_KEY] = route.rule
        try:
            answer = route.handler(self._context, environ, **params)
            body, status = answer if isinstance(answer, tuple) else (answer, 200)
            content_type, extra = "application/json", None
        except Exception as err:
            status, body, extra = problems.for_exception(err)
            content_type = problems.PROBLEM_TYPE
        return problems.write_json(start_response, self._dumps, status, body, content_type, extra)
