"""Gunicorn settings for the gateway: ``gunicorn -c gunicorn.conf.py gateway.wsgi:app``.

Laid out like Gunicorn's own example config: each section says what a setting means and
why it has this value. Flags on the command line (``-b``, ``-w``, ...) still win.
Values that users tune come from ``GATEWAY_*`` variables through ``Settings``.
"""

import os
import signal
import sys
import tempfile
from pathlib import Path


# Ctrl-C or SIGTERM before the master has its own handlers (they come once this file has
# been read and the arbiter starts) would print a KeyboardInterrupt traceback, or end the
# master by the signal instead of with exit 0. Nothing runs yet, so stopping is leaving.
# Only on the first read: a reload (SIGHUP) reads this file again in a running master,
# whose handlers stay. A SIGINT the parent ignores (a job started with `&` by a script)
# stays ignored: that parent stops us with SIGTERM.
def _stop_before_start(sig, frame):
    raise SystemExit(0)


if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _stop_before_start)
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _stop_before_start)

from gateway.http import guard, probe_listener, routes
from gateway.idl import catalog
from gateway.idl.catalog import load_all
from gateway.config import ConfigError, Settings

# Where the workers of this host share state (rate-limit counters): one per start.
os.environ.setdefault("GATEWAY_RUNTIME_DIR", tempfile.mkdtemp(prefix="gateway-run-"))

# Read and check every setting here, in the master, before any worker starts: a bad
# value stops start-up with one line naming the variable, not a traceback per worker.
# A reload (SIGHUP runs this file again in the master) must never stop the master: what
# loaded last keeps serving, and the error is one line. Only the first read may exit.
_reloading = getattr(catalog, "master_loaded", False)
_parsed_before = catalog.parsed_files()
try:
    settings = Settings.from_env()
    probe_bind = probe_listener.probe_bind()  # GATEWAY_PROBE_BIND, None when off
    # Every service's module or IDL file and options, and the routes their IDLs declare.
    # The IDL files are read now, at start and on every SIGHUP (this file runs again);
    # the workers build on what loaded here, so one that no longer loads after a reload
    # is logged in one line and the last version that loaded is kept (catalog.load_all).
    routes.check(load_all(settings, fresh=True))
    guard.check(settings)  # auth keys and files, the rate limit
    targets = (settings.calculator, settings.cache, *(r.target for r in settings.rpc_services))
    if any(t.tls for t in targets if t is not None):
        from gateway.upstream.services import client_tls_context

        client_tls_context(settings)  # the CA, certificate and key files load
    catalog.master_loaded = True  # type: ignore[attr-defined]
except ConfigError as err:
    if not _reloading:
        print(f"gateway: configuration error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    catalog.restore_parsed_files(_parsed_before)
    print(f"gateway: reload: configuration error: {err}; keeping the configuration that loaded before",
          file=sys.stderr, flush=True)

# Server socket
#
#   bind - GATEWAY_BIND, loopback by default: put a real load balancer or reverse
#       proxy in front before exposing the gateway to a network.
#   backlog - connections the kernel queues before accept(); the default 2048 lets a
#       burst wait instead of being refused.

#   GATEWAY_PROBE_BIND - off by default; host:port of a second listener that answers
#       only /healthz and /readyz, with worker_connections slots of its own, so probes
#       are answered while busy API clients hold every slot of the first one (see
#       gateway/http/probe_listener.py). Added to the bind list by the nworkers_changed hook
#       below, so that `-b` on the command line does not drop it. Off by default: two
#       gateways on one host (tests, blue/green) would fight over one fixed port, and a
#       loopback default would be useless to a kubelet; the image and the manifests set it.

bind = settings.bind
backlog = 2048

# Worker processes
#
#   worker_class - gevent: each request runs in a greenlet, so one worker overlaps
#       thousands of requests that wait on a backend. Needs gunicorn[gevent]. Our
#       subclass (gateway/worker.py) stops cleanly whenever the stop comes, booting
#       included; the post_fork hook below is its other half.
#   workers - GATEWAY_WORKERS, one per core by default: a gevent worker is one
#       event loop on one core; more workers than cores only adds switching.
#   worker_connections - GATEWAY_WORKER_CONNECTIONS, the most concurrent requests one
#       worker holds (1000 by default); past it new connections wait in the backlog.
#   timeout - for gevent workers this is a heartbeat, not a request deadline: a worker
#       whose event loop is stuck this long is killed. Request deadlines come from
#       GATEWAY_CALL_TIMEOUT_MS and GATEWAY_POOL_TIMEOUT_MS.
#   graceful_timeout - on SIGTERM/SIGHUP, how long requests in flight may finish: 8 s,
#       so that every stop ends within the contract's 10 s - a backend call ends by
#       GATEWAY_CALL_TIMEOUT_MS (5 s by default), and a client still sending its body
#       after 8 s is cut off rather than holding the stop.
#   keepalive - seconds an idle keep-alive connection stays open. Kept well under
#       graceful_timeout so idle clients never hold up a restart (gunicorn #3227).
#   preload_app - off on purpose: the app, and with it every backend connection pool,
#       is created in each worker after the fork and after gevent patched the standard
#       library. A pool made in the master would share sockets among workers.

#   max_requests, max_requests_jitter - GATEWAY_MAX_REQUESTS (0: off) and
#       GATEWAY_MAX_REQUESTS_JITTER: recycle a worker after that many requests, plus a
#       random share of the jitter so the workers do not all restart together. A
#       recycled worker finishes its requests in flight, like on SIGHUP.

worker_class = "gateway.worker.GatewayWorker"
workers = settings.workers
worker_connections = settings.worker_connections
timeout = 30
graceful_timeout = 8
keepalive = 5
preload_app = False
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter

# Request limits
#
#   Gunicorn's defaults, written out because they are part of what users see: a
#   request line over limit_request_line bytes, more than limit_request_fields headers
#   or a header over limit_request_field_size bytes is refused by Gunicorn's parser
#   with its own 400/431 answer before the app runs (see the README). Request bodies
#   are limited by the app (2 MiB, answered 413 as a problem document).

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# What the gateway trusts from request headers
#
#   forwarder_headers - none. Gunicorn's default, SCRIPT_NAME and PATH_INFO, takes those
#       headers from any peer in forwarded_allow_ips (loopback by default, so a sidecar
#       proxy or anything else on the host): a SCRIPT_NAME that is not a prefix of the
#       path was Gunicorn's own HTML 500, one that is a prefix cut it off the path the
#       router and the permission check see, and a trusted PATH_INFO would let a client
#       choose that path outright. The gateway is mounted at /; a proxy that adds a
#       prefix strips it itself. Such headers are now dropped like any header whose
#       name holds "_" (header_map "drop").
#   secure_scheme_headers - none. X-Forwarded-Proto / -Ssl / -Protocol only set
#       wsgi.url_scheme, which the gateway never uses (it builds no absolute URLs and
#       redirects nowhere), and two of them that disagree made Gunicorn answer its own
#       HTML 400. The client's scheme, where it matters, is the proxy's business.
#   X-Forwarded-For is not read either: REMOTE_ADDR (the rate limit's key for
#   anonymous clients, the access log's "remote") is always the connection's peer.

forwarder_headers = ""
secure_scheme_headers = {}

# Control socket
#
#   Gunicorn 27 opens a control socket (~/.gunicorn/gunicorn.ctl) for gunicornc. The
#   gateway does not use it, and several gateways on one host (tests, benchmarks,
#   blue/green) would fight over that one path: off.

control_socket_disable = True

# Logging
#
#   errorlog - stderr. The access log is the app's own (gateway/http/observer.py): one
#   JSON line per request with its id, route, status, backends and latency, to
#   GATEWAY_ACCESS_LOG ("-" for stdout, the default; a path; empty for none: it costs
#   throughput under load). Gunicorn's own access log is off so there is only one.

errorlog = "-"
loglevel = "info"
accesslog = None

# Metrics
#
#   Each worker keeps its Prometheus figures in files under PROMETHEUS_MULTIPROC_DIR
#   so /metrics, answered by any one worker, covers them all. The directory must exist
#   before the workers start and hold no figures from a previous run: the master removes
#   the *.db files there at start (only those - the directory may be the user's).

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")

# Server hooks


def nworkers_changed(server, new_value, old_value):
    # Not about workers: the one hook Gunicorn calls in its master right after it has
    # (re)read this file and the command line - at start, and on SIGHUP before it compares
    # the addresses to decide whether to re-open its sockets. Adding the probe listener
    # here keeps it whatever `-b` says, and keeps the address list equal on a reload (a
    # list without it would close and re-open every socket, the API's included).
    if probe_bind:
        probe_listener.add_to_bind(server.cfg, probe_bind)


def when_ready(server):
    # The sockets are bound: the workers, forked from here, learn which one is the probe's.
    if probe_bind:
        probe_listener.record_listeners(server.LISTENERS, probe_bind)


def on_reload(server):
    when_ready(server)


def on_starting(server):
    _check_bind(server.cfg.address)
    # Counters from an earlier run would limit clients that have not been seen yet.
    from gateway.security.ratelimit import HOST_COUNTERS_FILE, HostStorage

    HostStorage.create(Path(os.environ["GATEWAY_RUNTIME_DIR"]) / HOST_COUNTERS_FILE)
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def _check_bind(addresses):
    """Stop with one line when the address is taken: Gunicorn would retry five times,
    a line each, and end in a message that does not say which setting to change."""
    import errno
    import socket

    for address in addresses:
        if not isinstance(address, tuple):
            continue  # a unix socket or fd: Gunicorn's own checks
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                    setting = ("GATEWAY_PROBE_BIND" if probe_listener.is_probe_listener(address)
                               else "GATEWAY_BIND, or gunicorn -b")
                    print(f"gateway: cannot listen on {address[0]}:{address[1]}: {err.strerror} "
                          f"(set {setting})", file=sys.stderr, flush=True)
                    sys.exit(1)
                raise


def post_fork(server, worker):
    # In the new worker, before anything else: a stop signal that comes while it boots
    # is kept for it instead of being queued for the master (see gateway/worker.py).
    from gateway.worker import catch_early_stops

    catch_early_stops(server, worker)


def worker_exit(server, worker):
    # Each worker batches its figures for up to a second; write the last batch.
    from gateway import metrics

    metrics.flush()


def child_exit(server, worker):
    # Drop the dead worker's live gauges; its counters stay in the totals.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
