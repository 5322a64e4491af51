"""The WSGI types every layer of the HTTP side is written against (PEP 3333)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
