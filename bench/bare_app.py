"""The bare stack: the same Gunicorn, gevent and Flask, one route that calls no backend.

It is the ceiling the gateway is measured against. ``/bare-wsgi`` answers the same JSON
from a plain WSGI function in front of Flask, as the gateway's direct path answers its API
routes: the gateway's ``/add`` against it is the cost of the backend call alone.
"""

from typing import Any, Callable, Iterable

from flask import Flask

app = Flask(__name__)


@app.get("/bare")
def bare() -> dict[str, int]:
    return {"result": 5}


_BODY = b'{"result":5}\n'
_flask_wsgi = app.wsgi_app


def _bare_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/bare-wsgi":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))])
        return [_BODY]
    return _flask_wsgi(environ, start_response)


app.wsgi_app = _bare_wsgi  # type: ignore[method-assign]
