"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py gateway.wsgi:app``."""

import atexit
import gc

from gateway.app import create_app
from gateway.http import probe_listener

app = create_app()
# On the probe listener (GATEWAY_PROBE_BIND), only /healthz and /readyz; without one, the
# app is left as it is.
app.wsgi_app = probe_listener.restrict(app.wsgi_app, app.json.encode_compact)  # type: ignore[method-assign]

# Everything made so far (modules, Flask, the IDLs' classes, the pools) lives as long as
# the worker: moved out of the collector's sight, so that its collections, which a
# request's allocations trigger every few requests, walk only what requests made
# (bench/breakdown.md: "garbage collector").
gc.collect()
gc.freeze()
# ...until the worker exits: frozen objects would outlive the interpreter's last
# collections and die during its teardown, when what their finalizers call is gone
# (logging's weakref callbacks printed tracebacks at every stop).
atexit.register(gc.unfreeze)
