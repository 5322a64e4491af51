"""The command line every backend shares: address, logging, the test-only delay."""

from __future__ import annotations

import argparse
import logging
import resource
import sys
from pathlib import Path
from typing import Any, Callable

import gevent
from thrift.Thrift import TProcessor

from backends.server import Limits, ThriftServer
from telemetry.tracing import Tracer


def parser(name: str, default_port: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m backends.{name}", description=f"The {name} Thrift backend.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=default_port, help="TCP port; 0 picks a free one (default: %(default)s)")
    p.add_argument(
        "--delay-ms",
        type=int,
        default=0,
        help="wait this long before answering each call; for benchmarks and tests only",
    )
    p.add_argument(
        "--drain-timeout-ms",
        type=int,
        default=10_000,
        help="on SIGTERM/SIGINT, how long calls in flight may take to finish before their "
        "connections are closed; connections with no call in flight close at once (default: %(default)s)",
    )
    p.add_argument("--max-connections", type=int, default=_default_max_connections(),
                   help="beyond this many client connections, new ones are closed at once (default: 1000, "
                   "or fewer when the open-files limit is lower; here %(default)s)")
    p.add_argument("--idle-timeout-ms", type=int, default=300_000,
                   help="close a client connection with no call in flight after this long (default: %(default)s)")
    p.add_argument("--read-timeout-ms", type=int, default=10_000,
                   help="close a client connection whose request has not arrived whole this long after it "
                   "began (default: %(default)s)")
    p.add_argument("--max-pending-bytes", type=int, default=64 * 1024 * 1024,
                   help="bytes of requests not yet whole held over every connection together; past it the "
                   "connection that adds more is closed (default: %(default)s)")
    p.add_argument("--tls-cert", type=Path, help="serve TLS with this certificate (PEM; with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    p.add_argument("--tls-client-ca", type=Path,
                   help="with TLS: refuse clients without a certificate this CA signed (mutual TLS)")
    p.add_argument("--log-level", default="INFO", help="logging level (default: %(default)s)")
    p.add_argument(
        "--log-calls",
        action="store_true",
        help="log a line per call: method, peer, the gateway's request id, duration",
    )
    return p


def _default_max_connections() -> int:
    # Past the open-files limit, accept() fails and so does every new call: stay under
    # it, with room for the listening socket, logs and the store's connections.
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(1000, soft - 32)) if soft != resource.RLIM_INFINITY else 1000


def configure_logging(name: str, args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s {name}[%(process)d] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(
    name: str,
    args: argparse.Namespace,
    processor: TProcessor,
    *,
    every: tuple[float, Callable[[], object]] | None = None,
    on_stop: Callable[[], object] | None = None,
) -> int:
    """Run ``processor`` until SIGTERM/SIGINT; returns the process exit code.

    ``every`` (seconds, function) runs in the background while serving; ``on_stop`` runs
    once the calls in flight have finished.
    """
    configure_logging(name, args)
    limits = Limits(max_connections=args.max_connections, idle_timeout_s=args.idle_timeout_ms / 1000,
                    read_timeout_s=args.read_timeout_ms / 1000, max_pending_bytes=args.max_pending_bytes)
    try:
        tls = _tls_context(args)
    except (OSError, ValueError) as err:
        print(f"{name}: cannot use the TLS files: {err}", file=sys.stderr, flush=True)
        return 2
    tracer = Tracer.from_environment(name)  # spans only when OTEL_* name an OTLP endpoint
    server = ThriftServer(processor, args.host, args.port, delay_ms=args.delay_ms, log_calls=args.log_calls,
                          drain_timeout_s=args.drain_timeout_ms / 1000, limits=limits, tls=tls, tracer=tracer)
    try:
        server.start()
    except OSError as err:
        # One line, naming the setting to change, rather than a traceback.
        print(f"{name}: cannot listen on {args.host}:{args.port}: {err.strerror or err} "
              f"(choose another with --port; with make run, {name.upper()}_PORT)", file=sys.stderr, flush=True)
        return 1
    host, port = server.address
    # One line on stdout, once connections are accepted: scripts and tests wait for it.
    print(f"{name} listening on {host}:{port}", flush=True)
    background = gevent.spawn(_repeat, *every) if every else None
    server.serve_until_stopped()
    if background is not None:
        background.kill()
    if on_stop is not None:
        on_stop()
    tracer.shutdown()  # the spans still batched go out before the process does
    logging.getLogger(name).info("stopped")
    return 0


def _tls_context(args: argparse.Namespace) -> Any:
    """The server side of TLS, from gevent's ssl so that handshakes are cooperative."""
    if args.tls_cert is None and args.tls_key is None and args.tls_client_ca is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ValueError("--tls-cert and --tls-key go together (and --tls-client-ca needs them)")
    from gevent import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(args.tls_cert), str(args.tls_key))
    if args.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(args.tls_client_ca))
    return context


def _repeat(interval_s: float, function: Callable[[], object]) -> None:
    while True:
        gevent.sleep(interval_s)
        try:
            function()
        except Exception:
            logging.getLogger(__name__).exception("periodic task failed")


def main(name: str, default_port: int, build: Callable[[argparse.Namespace], TProcessor],
         configure: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    p = parser(name, default_port)
    if configure is not None:
        configure(p)
    args = p.parse_args()
    return serve(name, args, build(args))
