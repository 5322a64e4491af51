"""CORS for browser clients: ``GATEWAY_CORS_ORIGINS=https://a.example,https://b.example``
(or ``*``). Without the setting the gateway sends no CORS headers at all, as in v1."""

from __future__ import annotations

from typing import Any

# What a browser client may send and read beyond the CORS-safelisted headers.
ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, X-Request-ID, traceparent, tracestate"
EXPOSED_HEADERS = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, traceparent"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
MAX_AGE_S = 600


class Cors:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        # An origin's scheme and host are case-insensitive; browsers send them lower-case.
        self._origins = frozenset(o.lower() for o in origins)

    def allowed(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin.lower() in self._origins)

    @staticmethod
    def is_preflight(environ: dict[str, Any]) -> bool:
        return (environ.get("REQUEST_METHOD") == "OPTIONS" and "HTTP_ORIGIN" in environ
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ)

    def preflight_headers(self, environ: dict[str, Any]) -> list[tuple[str, str]] | None:
        """The 204's headers for an allowed origin; None for one that is not."""
        origin = environ.get("HTTP_ORIGIN")
        if not self.allowed(origin):
            return None
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),  # type: ignore[list-item]
                ("Access-Control-Allow-Methods", ALLOWED_METHODS),
                ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                ("Access-Control-Max-Age", str(MAX_AGE_S))]

    def answer_headers(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """The headers every other answer to an allowed origin carries; the others say
        only that the answer depends on the Origin, so that a shared cache does not hand
        an answer without CORS headers to an allowed origin."""
        origin = environ.get("HTTP_ORIGIN")
        if not self.allowed(origin):
            return [("Vary", "Origin")]
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),  # type: ignore[list-item]
                ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
