"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py gateway.wsgi:app``."""

from gateway.app import create_app
from gateway.http import probe_listener

app = create_app()
# On the probe listener (GATEWAY_PROBE_BIND), only /healthz and /readyz; without one, the
# app is left as it is.
app.wsgi_app = probe_listener.restrict(app.wsgi_app, app.json.encode_compact)  # type: ignore[method-assign]
