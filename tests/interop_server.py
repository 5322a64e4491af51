"""The interop test service, served by the thrift package's own server classes.

``python -m tests.interop_server --server threaded --transport framed --protocol binary
[--multiplexed] --port 0`` - the way users run Apache's Python servers, in each of the
configurations the gateway must front: TSimpleServer or TThreadedServer, framed or
buffered transport (or THeader, which reads every client type), binary, compact or JSON
protocol, and a TMultiplexedProcessor serving Interop and SecondService side by side.
``--transport http`` serves it with Apache's ``THttpServer`` instead (see ``serve_http``).
Prints ``interop listening on HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import HTTPServer, ThreadingHTTPServer
from typing import Any

from thrift.server.THttpServer import ResponseException, THttpServer
from thrift.Thrift import TApplicationException
from thrift.TMultiplexedProcessor import TMultiplexedProcessor

from tests.gen.interop import Interop, SecondService
from tests.gen.interop.ttypes import Insanity, Numberz, Xception, Xception2, Xtruct
from tests.thrift_servers import protocol_factory, serve

# The request headers an HTTP server logs, one JSON line per call (the tests read them).
LOGGED_HEADERS = ("Content-Type", "X-Request-ID", "traceparent", "tracestate", "Deadline-Budget")


class InteropHandler:
    """Answers as the cross-language test handlers do: mostly with what it was given."""

    def __init__(self) -> None:
        self._last_oneway = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # testString, testBool, testByte, ... testKeySet, testUnion, testDefaults: echo.
        if name.startswith("test"):
            return lambda thing: thing
        raise AttributeError(name)

    def testVoid(self) -> None:  # noqa: N802 - the IDL's names
        return None

    def testMapMap(self, hello: int) -> dict[int, dict[int, int]]:  # noqa: N802
        return {hello: {i: i for i in range(1, 3)}, -hello: {-1: -1}}

    def testInsanity(self, argument: Insanity) -> dict[int, dict[int, Insanity]]:  # noqa: N802
        return {1: {Numberz.TWO: argument, Numberz.THREE: argument}, 2: {Numberz.SIX: Insanity()}}

    def testMulti(self, arg0: int, arg1: int, arg2: int, arg3: Any, arg4: int, arg5: int, arg6: str) -> Xtruct:  # noqa: N802
        return Xtruct(string_thing=f"Hello2 {arg5} {arg6}", byte_thing=arg0, i32_thing=arg1, i64_thing=arg2)

    def testOptional(self, thing: str, count: int | None) -> str:  # noqa: N802
        return f"{thing} {count}"

    def testException(self, arg: str) -> None:  # noqa: N802
        if arg == "Xception":
            raise Xception(errorCode=1001, message=arg)
        if arg == "TException":
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, "This is a TException")

    def testMultiException(self, arg0: str, arg1: str) -> Xtruct:  # noqa: N802
        if arg0 == "Xception":
            raise Xception(errorCode=1001, message="This is an Xception")
        if arg0 == "Xception2":
            raise Xception2(errorCode=2002, struct_thing=Xtruct(string_thing="This is an Xception2"))
        return Xtruct(string_thing=arg1)

    def testOneway(self, value: int) -> None:  # noqa: N802
        with self._lock:
            self._last_oneway = value

    def lastOneway(self) -> int:  # noqa: N802
        with self._lock:
            return self._last_oneway

    def baseEcho(self, value: int) -> int:  # noqa: N802
        return value


class SecondHandler:
    def secondtestString(self, thing: str) -> str:  # noqa: N802
        return f'testString("{thing}")'


class Refusing:
    """A processor that makes ``THttpServer`` answer every call with an HTTP error status
    (as a misconfigured or overloaded web server in front of it would)."""

    def __init__(self, status: int) -> None:
        self._status = status

    def on_message_begin(self, func: Any) -> None:
        pass

    def process(self, iprot: Any, oprot: Any) -> None:
        raise ResponseException(lambda handler: handler.send_error(self._status))


def serve_http(processor: Any, *, host: str, port: int, protocol: str, keep_alive: bool,
               tls_cert: str | None) -> int:
    """Apache's ``THttpServer`` as users run it: HTTP/1.0, one request at a time, the
    connection closed after each answer. ``keep_alive``: the same class answering
    HTTP/1.1 on a thread per connection, so that connections stay open between calls
    (its one ``_replied`` flag is shared by all requests - concurrent oneway calls would
    race on it; the tests send them one at a time). Logs each connection and each call's
    headers."""
    base_class = ThreadingHTTPServer if keep_alive else HTTPServer

    class server_class(base_class):  # type: ignore[valid-type,misc]  # noqa: N801
        # http.server listens with a backlog of 5: a gateway opening its pool's
        # connections at once (64 in the benchmark) would find some refused.
        request_queue_size = 128

    tls = {"cert_file": tls_cert, "key_file": tls_cert} if tls_cert else {}
    server = THttpServer(processor, (host, port), protocol_factory("buffered", protocol), server_class=server_class,
                         **tls)
    base = server.httpd.RequestHandlerClass

    class Logged(base):  # type: ignore[valid-type,misc]
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        # The handler writes the head and the body separately: on a kept-alive connection,
        # Nagle's algorithm held the body until the client's delayed ACK - 40 ms a call.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            print("http connection", flush=True)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            seen = {name: self.headers[name] for name in LOGGED_HEADERS if self.headers[name] is not None}
            print("http request " + json.dumps({"path": self.path, **seen}), flush=True)
            super().do_POST()

    server.httpd.RequestHandlerClass = Logged
    bound_host, bound_port = server.httpd.server_address[:2]
    print(f"interop listening on {bound_host}:{bound_port}", flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    return 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.interop_server")
    p.add_argument("--server", choices=("simple", "threaded"), default="threaded")
    p.add_argument("--transport", choices=("framed", "buffered", "header", "http"), default="framed")
    p.add_argument("--protocol", choices=("binary", "compact", "json"), default="binary")
    p.add_argument("--multiplexed", action="store_true", help="Interop and SecondService on one TMultiplexedProcessor")
    p.add_argument("--keep-alive", action="store_true", help="http: HTTP/1.1, a thread per connection")
    p.add_argument("--http-status", type=int, help="http: answer every call with this status")
    p.add_argument("--tls-cert", help="http: serve HTTPS with this PEM file (key and certificate chain)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    processor: Any = Interop.Processor(InteropHandler())
    if args.multiplexed:
        processor = TMultiplexedProcessor()
        processor.registerProcessor("Interop", Interop.Processor(InteropHandler()))
        processor.registerProcessor("SecondService", SecondService.Processor(SecondHandler()))
    if args.http_status:
        processor = Refusing(args.http_status)
    if args.transport == "http":
        return serve_http(processor, host=args.host, port=args.port, protocol=args.protocol,
                          keep_alive=args.keep_alive, tls_cert=args.tls_cert)
    return serve("interop", processor, host=args.host, port=args.port, server=args.server,
                 transport=args.transport, protocol=args.protocol)

if __name__ == "__main__":
    sys.exit(main())
