"""One measurement of ``bench/serial.py``: ``python -m bench.serial_one APP PATH N``.

A fresh process, gevent-patched before anything else is imported (as a Gunicorn gevent
worker is), imports the WSGI app ``APP`` (``module:attribute``) and makes N GET requests
of ``PATH`` one after another by calling it directly; it prints its CPU time (user and
system) per request, in µs, to stderr. Every answer must be a 200.
"""

from gevent import monkey

monkey.patch_all()

import importlib  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def main(app_spec: str, path: str, requests: int) -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the access log's lines (stdout) go nowhere
    module, attribute = app_spec.split(":")
    app = getattr(importlib.import_module(module), attribute)
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    def environ() -> dict[str, object]:
        return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                "HTTP_HOST": "127.0.0.1:8000", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
                "wsgi.url_scheme": "http", "wsgi.multithread": False, "wsgi.multiprocess": False,
                "wsgi.run_once": False}

    def serve(count: int) -> None:
        for _ in range(count):
            b"".join(app(environ(), start_response))

    def check() -> None:
        wrong = sorted({status for status in statuses if not status.startswith("200")})
        if not statuses or wrong:
            raise SystemExit(f"{app_spec} {path}: answered {wrong or 'nothing'}")

    serve(max(requests // 10, 1))  # warm: connections open, code paths taken
    check()
    started = time.process_time()
    serve(requests)
    spent = time.process_time() - started
    check()
    sys.stderr.write(f"{spent / requests * 1e6:.2f}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
