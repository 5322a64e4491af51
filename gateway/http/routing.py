"""Routing: the route table's parts, and the one place a request's path is matched.

A ``Route`` declares everything about one HTTP method and path template: its handler,
what it takes to be let in (``Access``) and what ``/openapi.json`` says about it. The
table itself is ``gateway/http/routes.py``; from it come the direct path, the Flask rules,
the guard's permission check, the metrics label and the OpenAPI document.

``RouteMatcher`` matches every request once, before anything else looks at its path,
and leaves the ``Match`` in the environ. The guard checks the permission of the route
that matched - never a second reading of the path - and a handler runs only for the
route its request matched (``routes_for_flask`` checks this for Flask's own routing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from gateway.http.wsgi_types import Environ, StartResponse, WSGIApp

MATCH_ENVIRON_KEY = "gateway.match"

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class Access(NamedTuple):
    """What a route asks of a request before its handler runs."""

    kind: str  # "open", "authenticated", "deferred" or "permission"
    template: str = ""  # for "permission": ``service.method``, ``{param}`` filled from the path

    def permission(self, params: dict[str, str]) -> str:
        return self.template.format_map(params)


OPEN = Access("open")  # no credentials: the probes
AUTHENTICATED = Access("authenticated")  # any valid credentials
DEFERRED = Access("deferred")  # the handler names the permission once it has read the body


def needs(template: str) -> Access:
    """A route that needs the permission ``template`` (``calculator.{op}``, ``metrics``)."""
    return Access("permission", template)


_LITERAL, _SEGMENT, _REST = 0, 1, 2  # a segment's kind; also its rank: literals match first


class Pattern:
    """A rule as a matcher, segment by segment: literal text, ``<name>`` (one non-empty
    segment, Werkzeug's default converter) or, last only, ``<key:name>`` (the non-empty
    rest, slashes included)."""

    def __init__(self, rule: str) -> None:
        if not rule.startswith("/"):
            raise ValueError(f"rule {rule!r} does not start with /")
        self.segments: list[tuple[int, str]] = []
        for text in rule[1:].split("/"):
            found = _PARAM.fullmatch(text)
            if found is None:
                if "<" in text or ">" in text:
                    raise ValueError(f"rule {rule!r}: segment {text!r} mixes text and a parameter")
                self.segments.append((_LITERAL, text))
            elif found.group(1) in (None, "key"):
                self.segments.append((_REST if found.group(1) else _SEGMENT, found.group(2)))
            else:
                raise ValueError(f"rule {rule!r}: the converter {found.group(1)!r} is not one the router has")
        if any(kind == _REST for kind, _ in self.segments[:-1]):
            raise ValueError(f"rule {rule!r}: only the last segment may take the rest of the path")
        self.names = tuple(text for kind, text in self.segments if kind != _LITERAL)
        # Routes are tried in this order: at the first segment where two differ, a literal
        # before a parameter before the rest of the path (/v1/users/me before /v1/users/:id).
        self.rank = tuple(kind for kind, _ in self.segments)
        # The whole rule as one regular expression: a match is then one call into C, where
        # splitting and comparing segment by segment was a dozen steps of Python.
        self._regex = re.compile("/" + "/".join(
            re.escape(text) if kind == _LITERAL else "([^/]+)" if kind == _SEGMENT else "(.+)"
            for kind, text in self.segments), re.DOTALL)

    def match(self, path: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self.names, found.groups()))


@dataclass(frozen=True)
class Route:
    """One HTTP method on one path template, declared once.

    ``handler`` is called ``handler(context, environ, **params)`` and returns the JSON
    body (or the body and a status) when ``flask_view`` is false - such routes are
    answered on the direct path; with ``flask_view`` it is a Flask view called with the
    path parameters. ``openapi`` is the operation ``/openapi.json`` lists, a function
    ``(rpc, schemas) -> {path: {method: operation}}`` for routes that stand for many
    operations, or None for a route the document leaves out (the docs page itself).
    """

    method: str
    rule: str  # Werkzeug rule syntax; ``<name>`` is one path segment, ``<name:key>`` the rest
    handler: Callable[..., Any]
    access: Access
    openapi: Any = None
    flask_view: bool = False
    service: str = ""  # the service the route calls: without it configured, the route does not exist
    pattern: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.access, Access):
            raise TypeError(f"route {self.method} {self.rule} declares no Access (OPEN, AUTHENTICATED, "
                            "DEFERRED or needs(...)): every route says what it takes")
        object.__setattr__(self, "pattern", Pattern(self.rule))
        unknown = set(_PLACEHOLDER.findall(self.access.template)) - set(self.pattern.names)
        if unknown:
            raise ValueError(f"route {self.method} {self.rule}: its permission names {sorted(unknown)}, "
                             "which are not path parameters")

    @property
    def endpoint(self) -> str:
        return self.handler.__name__

    @property
    def described(self) -> str:
        """The route as a user would recognise it in an error message."""
        return getattr(self.handler, "described", f"the route {self.endpoint}")

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(lambda m: "{" + m.group(2) + "}", self.rule)


class Match(NamedTuple):
    route: Route
    params: dict[str, str]


class RouteTable:
    """Every route; a method and path match at most one of them."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = list(routes)
        self._by_method: dict[str, list[Route]] = {}
        seen: dict[tuple[str, str], Route] = {}
        for route in self._routes:
            # Parameter names do not tell two routes apart: /x/<a> and /x/<b> are one route.
            key = (route.method, _PARAM.sub(lambda m: f"<{m.group(1) or ''}>", route.rule))
            if key in seen:
                raise ValueError(f"two routes for {route.method} {route.rule}: "
                                 f"{seen[key].described} and {route.described}")
            seen[key] = route
            self._by_method.setdefault(route.method, []).append(route)
        # Per method and first path segment, the routes a path starting with it can reach,
        # in the order they are tried: those whose first segment is that literal, and
        # those whose first segment is a parameter. A request tries only these.
        self._by_first: dict[str, tuple[dict[str, list[Route]], list[Route]]] = {}
        for method, routes in self._by_method.items():
            routes.sort(key=lambda r: r.pattern.rank)  # stable: otherwise in declaration order
            open_first = [r for r in routes if r.pattern.segments[0][0] != _LITERAL]
            firsts = {r.pattern.segments[0][1] for r in routes if r.pattern.segments[0][0] == _LITERAL}
            self._by_first[method] = (
                {first: [r for r in routes if r in open_first or r.pattern.segments[0] == (_LITERAL, first)]
                 for first in firsts},
                open_first)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def match(self, method: str, path: str) -> Match | None:
        """The route ``method`` and the normalised WSGI ``path`` reach, as Werkzeug's
        router would find it: HEAD is GET's, non-ASCII paths are decoded as UTF-8."""
        indexed = self._by_first.get("GET" if method == "HEAD" else method)
        if indexed is None:
            return None
        if not path.isascii():
            # WSGI carries the path's bytes as latin-1; Werkzeug decodes them as UTF-8,
            # replacing what is not, and so must we to hand the same parameters.
            path = path.encode("latin-1", "replace").decode("utf-8", "replace")
        by_first, open_first = indexed
        routes = by_first.get(path[1:].split("/", 1)[0], open_first)
        for route in routes:
            params = route.pattern.match(path)
            if params is not None:
                return Match(route, params)
        return None


def normalised_path(path: str) -> str:
    """The path as every router of ours sees it. Werkzeug routes ``//add/1/2`` as
    ``/add/1/2`` (it strips leading slashes); doing the same once, before anything reads
    the path, leaves no second reading that could disagree with it."""
    return "/" + path.lstrip("/") if path.startswith("//") else path


class RouteMatcher:
    """WSGI: normalises the path, matches it once and leaves the ``Match`` (or None) in
    the environ for the guard, the direct path, Flask's views and the metrics label."""

    def __init__(self, table: RouteTable, app: WSGIApp) -> None:
        self._table = table
        self._app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("//"):
            path = environ["PATH_INFO"] = normalised_path(path)
        environ[MATCH_ENVIRON_KEY] = self._table.match(environ.get("REQUEST_METHOD", ""), path)
        return self._app(environ, start_response)
