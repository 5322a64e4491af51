"""The JSON routes answered without Flask's per-request machinery.

Flask spends about as long on a request as a whole backend call does: it builds a
request context, an app context, a URL adapter, a session, sends signals and builds a
``Response`` object (~130 µs of a worker's CPU per request here, measured against a bare
WSGI route on the same Gunicorn). For the routes whose handlers are plain functions
(``handlers.py``) that work buys nothing, so this layer answers them itself, with the route
``RouteMatcher`` matched.

It takes a request only for the route's own method (HEAD goes to Flask, which answers it
as GET without a body) and an ASCII path (so no question of how a non-ASCII path decodes
arises). Everything else - and the routes that are Flask views - falls through to Flask
unchanged. Errors become the same problem documents through ``problems.for_exception``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from gateway.http import problems
from gateway.http.handlers import Reply
from gateway.http.routing import MATCH_ENVIRON_KEY, Match
from gateway.http.wsgi_types import Environ, StartResponse, WSGIApp

Dumps = Callable[[Any], str]  # the JSON provider's compact encoder


class DirectRoutes:
    """WSGI: answers the matched route itself, hands every other request to ``fallback``."""

    def __init__(self, context: Any, dumps: Dumps, fallback: WSGIApp) -> None:
        self._context = context
        self._dumps = dumps
        self._fallback = fallback

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        match: Match | None = environ.get(MATCH_ENVIRON_KEY)
        if (match is not None and not match.route.flask_view and environ.get("REQUEST_METHOD") == match.route.method
                and environ.get("PATH_INFO", "").isascii()):
            return self._answer(match, environ, start_response)
        return self._fallback(environ, start_response)

    def _answer(self, match: Match, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = match.route.handler(self._context, environ, **match.params)
        except Exception as err:
            status, body, extra = problems.for_exception(err)
            return problems.write_json(start_response, self._dumps, status, body, problems.PROBLEM_TYPE, extra)
        if isinstance(answer, Reply):
            if answer.content_type is not None:
                return problems.write_bytes(start_response, answer.status, answer.body, answer.content_type,
                                            answer.headers)
            if answer.body is None:
                return problems.write_empty(start_response, answer.status, answer.headers)
            return problems.write_json(start_response, self._dumps, answer.status, answer.body,
                                       extra=dict(answer.headers))
        body, status = answer if isinstance(answer, tuple) else (answer, 200)
        return problems.write_json(start_response, self._dumps, status, body)
