# One image for the three processes: the gateway and both backends. Each container runs
# one of the README's commands (see deploy/compose.yaml and deploy/kubernetes/):
#   python -m backends.calculator --host 0.0.0.0 --port 9090
#   python -m backends.cache --host 0.0.0.0 --port 9091 [--store redis://...]
#   gunicorn -c gunicorn.conf.py gateway.wsgi:app            (the default)
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_BIND=0.0.0.0:8000 \
    GATEWAY_PROBE_BIND=0.0.0.0:8001

WORKDIR /app

# Only what the processes import at run time, at requirements.txt's versions; binary
# wheels only, so the image needs no compiler.
COPY requirements-runtime.txt ./
RUN pip install --only-binary=:all: -r requirements-runtime.txt

COPY gunicorn.conf.py ./
COPY thrift_wire/ thrift_wire/
COPY telemetry/ telemetry/
COPY thrift_idl/ thrift_idl/
COPY gateway/ gateway/
COPY backends/ backends/

# Never root: a fixed unprivileged uid (Kubernetes' runAsNonRoot can check it).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
USER 10001

# 8001: /healthz and /readyz only, on connection slots of their own (GATEWAY_PROBE_BIND)
EXPOSE 8000 8001 9090 9091
CMD ["gunicorn", "-c", "gunicorn.conf.py", "gateway.wsgi:app"]
