"""Securing the gateway, end to end: real keys from the real CLI, real JWTs signed with
real keys (and the classic attacks on them), real TLS handshakes with certificates made
now by trustme, rate limits shared by workers and by hosts, CORS as browsers speak it.
Every refusal is checked to have reached no backend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
import requests
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.harness import ROOT, Backend, Gateway, Process, free_port
from tests.integration.test_startup import run_gateway
from tests.problems import assert_problem
from tests.system_tools import RedisServer, ensure_redis_server


@pytest.fixture(scope="module")
def backends(log_dir: Path) -> Iterator[tuple[Backend, Backend]]:
    procs = [Backend("calculator", log_dir, args=("--log-calls",)), Backend("cache", log_dir, args=("--log-calls",))]
    yield procs[0], procs[1]
    for proc in procs:
        proc.stop()


def start(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend], workers: int = 1,
          calculator: str | None = None, cache: str | None = None, **env: str) -> Gateway:
    gw = Gateway(log_dir, [calculator or backends[0].address], [cache or backends[1].address], workers=workers,
                 env=env)
    procs.append(gw)
    return gw


def calls_logged(backend: Backend, method: str) -> int:
    return backend.output().count(f"call {method} from")


def add_key(path: Path, name: str, *permissions: str) -> str:
    done = subprocess.run([sys.executable, "-m", "gateway.keys", "add", name, *permissions, "--file", str(path)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


# API keys -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keyed(backends: tuple[Backend, Backend], log_dir: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Gateway, dict[str, str]]]:
    path = tmp_path_factory.mktemp("keys") / "api-keys.txt"
    path.write_text("# clients of the test gateway\n\n")
    keys = {"reader": add_key(path, "reader", "cache.get"),
            "writer": add_key(path, "writer", "cache.*", "calculator.add"),
            "ops": add_key(path, "ops", "metrics"),
            "admin": add_key(path, "admin", "*")}
    procs: list[Process] = []
    gw = start(procs, log_dir, backends, GATEWAY_AUTH="api_key", GATEWAY_API_KEYS_FILE=str(path))
    yield gw, keys
    for proc in procs:
        proc.stop()


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_keys_file_holds_hashes_only(keyed: tuple[Gateway, dict[str, str]], tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    key = add_key(path, "someone", "calculator.*", "metrics")
    name, digest, *permissions = path.read_text().split()
    assert (name, permissions) == ("someone", ["calculator.*", "metrics"])
    assert digest == hashlib.sha256(key.encode()).hexdigest() and key not in path.read_text()
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/add/1/2"), ("GET", "/cache/k"), ("PUT", "/cache/k"), ("POST", "/rpc/calculator/add"), ("GET", "/rpc"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/metrics"), ("GET", "/no/such/route"), ("HEAD", "/get/k"),
])
def test_no_or_bad_credentials_are_401(keyed: tuple[Gateway, dict[str, str]], method: str, path: str) -> None:
    gw, _ = keyed
    for headers in ({}, as_("not-a-key"), {"X-API-Key": "not-a-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        r = requests.request(method, gw.url + path, headers=headers, json={"a": 1, "b": 2})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        if method != "HEAD":
            assert_problem(r, 401, "unauthenticated")


def test_health_checks_are_open(keyed: tuple[Gateway, dict[str, str]]) -> None:
    assert requests.get(f"{keyed[0].url}/healthz").json() == {"status": "ok"}
    assert requests.get(f"{keyed[0].url}/readyz").status_code == 200


def test_permissions_by_the_method_each_route_calls(keyed: tuple[Gateway, dict[str, str]],
                                                    backends: tuple[Backend, Backend]) -> None:
    gw, keys = keyed
    url, calculator, cache = gw.url, *backends
    reader, writer, admin = as_(keys["reader"]), {"X-API-Key": keys["writer"]}, as_(keys["admin"])
    puts, adds = calls_logged(cache, "put"), calls_logged(calculator, "multiply")
    # The reader reads, through every read route, and writes through none.
    assert_problem(requests.get(f"{url}/cache/sec-k", headers=reader), 404, "not_found")
    assert requests.get(f"{url}/get/sec-k", headers=reader).json() == {"value": None}
    assert requests.head(f"{url}/cache/sec-k", headers=reader).status_code == 404  # HEAD needs what GET needs
    assert_problem(requests.post(f"{url}/rpc/cache/get", headers=reader, json={"key": "sec-k"}), 404, "not_found")
    for r in (requests.put(f"{url}/cache/sec-k", headers=reader, json={"value": 1}),
              requests.post(f"{url}/set", headers=reader, json={"key": "sec-k", "value": 1}),
              requests.post(f"{url}/rpc/cache/put", headers=reader, json={"key": "sec-k", "value": "eA=="}),
              requests.delete(f"{url}/cache/sec-k", headers=reader),
              requests.get(f"{url}/add/1/2", headers=reader),
              requests.get(f"{url}/metrics", headers=reader)):
        assert_problem(r, 403, "forbidden")
    assert calls_logged(cache, "put") == puts  # no forbidden write reached the cache
    assert_problem(requests.get(f"{url}/cache/sec-k", headers=admin), 404, "not_found")  # nothing was stored
    # The writer: cache.* and calculator.add only - by path and by body alike.
    assert requests.put(f"{url}/cache/sec-k", headers=writer, json={"value": 2}).status_code == 200
    assert requests.get(f"{url}/add/1/2", headers=writer).json() == {"result": 3}
    assert requests.post(f"{url}/calc", headers=writer, json={"op": "add", "a": 1, "b": 1}).json()["result"] == 2
    assert_problem(requests.get(f"{url}/calc/multiply/2/3", headers=writer), 403, "forbidden")
    assert_problem(requests.post(f"{url}/calc", headers=writer, json={"op": "multiply", "a": 2, "b": 3}),
                   403, "forbidden")
    assert_problem(requests.post(f"{url}/rpc/calculator/multiply", headers=writer, json={"a": 2, "b": 3}),
                   403, "forbidden")
    assert calls_logged(calculator, "multiply") == adds
    # Listings need credentials, any; /metrics needs `metrics`.
    assert "cache" in requests.get(f"{url}/rpc", headers=reader).json()["services"]
    assert requests.get(f"{url}/openapi.json", headers=reader).status_code == 200
    assert requests.get(f"{url}/metrics", headers=as_(keys["ops"])).status_code == 200
    assert_problem(requests.get(f"{url}/no/such", headers=reader), 404, "not_found")


@pytest.mark.parametrize(("env", "variable"), [
    ({"GATEWAY_AUTH": "password"}, "GATEWAY_AUTH"),
    ({"GATEWAY_AUTH": "api_key"}, "GATEWAY_API_KEYS_FILE"),
    ({"GATEWAY_AUTH": "api_key", "GATEWAY_API_KEYS_FILE": "/nonexistent/keys"}, "GATEWAY_API_KEYS_FILE"),
    ({"GATEWAY_AUTH": "jwt"}, "GATEWAY_JWT_SECRET"),
    ({"GATEWAY_AUTH": "jwt", "GATEWAY_JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "GATEWAY_JWT_PUBLIC_KEY_FILE"),
    ({"GATEWAY_RATE_LIMIT": "lots"}, "GATEWAY_RATE_LIMIT"),
    ({"GATEWAY_RATE_LIMIT": "1/second", "GATEWAY_RATE_LIMIT_STORAGE": "memcached://x"}, "GATEWAY_RATE_LIMIT_STORAGE"),
])
def test_a_bad_auth_setting_stops_start_up(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    done = run_gateway(env, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "configuration error" in line and variable in line]


# JWT ---------------------------------------------------------------------------------------

SECRET = "s" * 40


def token(key: Any = SECRET, algorithm: str = "HS256", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    body = {"sub": "alice", "scope": "calculator.add cache.get", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], key: bytes = b"") -> str:
    """A token made by hand, as an attacker would: any header, an HMAC with any key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing_input}.{signature}"


def test_hs256_tokens(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend]) -> None:
    gw = start(procs, log_dir, backends, GATEWAY_AUTH="jwt", GATEWAY_JWT_SECRET=SECRET)
    url = gw.url
    assert requests.get(f"{url}/add/2/2", headers=as_(token())).json() == {"result": 4}
    assert_problem(requests.get(f"{url}/calc/divide/4/2", headers=as_(token())), 403, "forbidden")  # not in scope
    assert_problem(requests.get(f"{url}/add/2/2", headers=as_(token(scope=None))), 403, "forbidden")  # no scope
    # Not checked when not configured: a token that carries aud and iss is accepted.
    assert requests.get(f"{url}/add/2/2", headers=as_(token(aud="other", iss="someone"))).status_code == 200
    now = int(time.time())
    claims = {"sub": "alice", "scope": "*", "exp": now + 300}
    for bad in (token(exp=now - 10), token(exp=None), token(nbf=now + 600), token(key="x" * 40),
                token(sub=None), token()[:-4] + "AAAA", "not.a.jwt",
                forged({"alg": "none", "typ": "JWT"}, claims),  # alg: none
                forged({"alg": "HS512", "typ": "JWT"}, claims, SECRET.encode())):  # an algorithm the key does not allow
        assert_problem(requests.get(f"{url}/add/2/2", headers=as_(bad)), 401, "unauthenticated")
    # Signed, but with claims no verifier should take (they were HTML 500s): dates no
    # float holds, and a sub that is not Unicode text (a lone surrogate).
    for bad in (token(exp=10**400), token(nbf=-10**400), token(exp="9999999999"), token(sub="\ud800")):
        assert_problem(requests.get(f"{url}/add/2/2", headers=as_(bad)), 401, "unauthenticated")
    assert "Traceback" not in gw.output()


def test_audience_and_issuer_when_configured(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend]
                                             ) -> None:
    gw = start(procs, log_dir, backends, GATEWAY_AUTH="jwt", GATEWAY_JWT_SECRET=SECRET,
               GATEWAY_JWT_AUDIENCE="gateway", GATEWAY_JWT_ISSUER="https://issuer.example")
    ok = {"aud": "gateway", "iss": "https://issuer.example"}
    assert requests.get(f"{gw.url}/add/1/1", headers=as_(token(**ok))).status_code == 200
    assert requests.get(f"{gw.url}/add/1/1", headers=as_(token(aud=["x", "gateway"], iss=ok["iss"]))).status_code == 200
    for bad in (token(aud="elsewhere", iss=ok["iss"]), token(iss=ok["iss"]), token(aud="gateway"),
                token(aud="gateway", iss="https://evil.example")):
        assert_problem(requests.get(f"{gw.url}/add/1/1", headers=as_(bad)), 401, "unauthenticated")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_rs256_with_a_pem_key_and_the_key_confusion_attack(procs: list[Process], log_dir: Path,
                                                           backends: tuple[Backend, Backend], tmp_path: Path,
                                                           rsa_key: rsa.RSAPrivateKey) -> None:
    (tmp_path / "public.pem").write_bytes(pem(rsa_key))
    gw = start(procs, log_dir, backends, GATEWAY_AUTH="jwt", GATEWAY_JWT_PUBLIC_KEY_FILE=str(tmp_path / "public.pem"))
    assert requests.get(f"{gw.url}/add/3/4", headers=as_(token(rsa_key, "RS256"))).json() == {"result": 7}
    claims = {"sub": "mallory", "scope": "*", "exp": int(time.time()) + 300}
    # HS256 "signed" with the public key, which a verifier that trusts the token's alg
    # would use as the HMAC secret.
    confused = forged({"alg": "HS256", "typ": "JWT"}, claims, pem(rsa_key))
    assert_problem(requests.get(f"{gw.url}/add/3/4", headers=as_(confused)), 401, "unauthenticated")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_problem(requests.get(f"{gw.url}/add/3/4", headers=as_(token(other, "RS256"))), 401, "unauthenticated")


def test_a_jwks_chooses_the_key_by_kid(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend],
                                       tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r1"},
                     {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "e1"}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    gw = start(procs, log_dir, backends, GATEWAY_AUTH="jwt", GATEWAY_JWT_PUBLIC_KEY_FILE=str(tmp_path / "jwks.json"))
    assert requests.get(f"{gw.url}/add/1/2", headers=as_(token(rsa_key, "RS256", {"kid": "r1"}))).status_code == 200
    assert requests.get(f"{gw.url}/add/1/2", headers=as_(token(ec_key, "ES256", {"kid": "e1"}))).status_code == 200
    for bad in (token(ec_key, "ES256", {"kid": "r1"}),  # the wrong key for this kid
                token(ec_key, "ES256", {"kid": "nobody"}),
                token(ec_key, "ES256")):  # no kid, and two keys to choose from
        assert_problem(requests.get(f"{gw.url}/add/1/2", headers=as_(bad)), 401, "unauthenticated")
    # A JWKS that holds one key: a token without kid uses it.
    (tmp_path / "one.json").write_text(json.dumps({"keys": jwks["keys"][1:]}))
    one = start(procs, log_dir, backends, GATEWAY_AUTH="jwt", GATEWAY_JWT_PUBLIC_KEY_FILE=str(tmp_path / "one.json"))
    assert requests.get(f"{one.url}/add/1/2", headers=as_(token(ec_key, "ES256"))).status_code == 200


# Exposure: the methods option ----------------------------------------------------------------

def test_methods_limits_what_rpc_serves_and_lists(procs: list[Process], log_dir: Path,
                                                  backends: tuple[Backend, Backend]) -> None:
    gw = start(procs, log_dir, backends, cache=f"{backends[1].address}?methods=get|ping")
    assert_problem(requests.post(f"{gw.url}/rpc/cache/put", json={"key": "k", "value": "eA=="}), 404, "not_found")
    assert_problem(requests.post(f"{gw.url}/rpc/cache/remove", json={"key": "k"}), 404, "not_found")
    assert set(requests.get(f"{gw.url}/rpc").json()["services"]["cache"]["methods"]) == {"get", "ping"}
    paths = requests.get(f"{gw.url}/openapi.json").json()["paths"]
    assert "/rpc/cache/get" in paths and "/rpc/cache/put" not in paths
    # The hand-written routes and /readyz are not limited by it.
    assert requests.put(f"{gw.url}/cache/exposed", json={"value": 1}).status_code == 200
    assert requests.get(f"{gw.url}/readyz").status_code == 200


# Rate limits -------------------------------------------------------------------------------------

def test_a_rate_limit_counted_across_the_workers_of_a_host(procs: list[Process], log_dir: Path,
                                                           backends: tuple[Backend, Backend]) -> None:
    gw = start(procs, log_dir, backends, workers=2, GATEWAY_RATE_LIMIT="6/minute")
    answers = [requests.get(f"{gw.url}/add/1/1") for _ in range(10)]  # a new connection each: both workers
    assert [r.status_code for r in answers] == [200] * 6 + [429] * 4
    assert [r.headers["RateLimit-Remaining"] for r in answers[:7]] == ["5", "4", "3", "2", "1", "0", "0"]
    limited = answers[-1]
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["RateLimit-Limit"] == "6" and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert 0 <= int(limited.headers["RateLimit-Reset"]) <= 60
    assert requests.get(f"{gw.url}/healthz").status_code == 200 and "RateLimit-Limit" not in requests.get(
        f"{gw.url}/readyz").headers


def test_a_rate_limit_per_client_shared_by_hosts_through_redis(procs: list[Process], log_dir: Path, tmp_path: Path,
                                                               backends: tuple[Backend, Backend]) -> None:
    binary = ensure_redis_server()
    if binary is None:
        pytest.skip("redis-server is missing and cannot be installed here (needs root and apt)")
    redis = RedisServer(binary, tmp_path)
    procs.append(redis)
    keys = tmp_path / "keys.txt"
    a, b = add_key(keys, "a", "*"), add_key(keys, "b", "*")
    env = {"GATEWAY_RATE_LIMIT": "4/hour", "GATEWAY_RATE_LIMIT_STORAGE": redis.url, "GATEWAY_AUTH": "api_key",
           "GATEWAY_API_KEYS_FILE": str(keys)}
    hosts = [start(procs, log_dir, backends, **env), start(procs, log_dir, backends, **env)]
    codes = [requests.get(f"{hosts[i % 2].url}/add/1/1", headers=as_(a)).status_code for i in range(6)]
    assert codes == [200] * 4 + [429] * 2  # one budget, whichever host answers
    assert requests.get(f"{hosts[1].url}/add/1/1", headers=as_(b)).status_code == 200  # another client's own


# TLS to backends --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_backend(procs: list[Process], log_dir: Path, ca: trustme.CA, tmp_path: Path, *, client_ca: bool = False
                ) -> Backend:
    cert = ca.issue_cert("calculator.test")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    args = ["--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.pem")]
    if client_ca:
        ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
        args += ["--tls-client-ca", str(tmp_path / "client-ca.pem")]
    backend = Backend("calculator", log_dir, args=args)
    procs.append(backend)
    return backend


def test_tls_to_a_backend_verifies_its_certificate(procs: list[Process], log_dir: Path, tmp_path: Path,
                                                   ca: trustme.CA, backends: tuple[Backend, Backend]) -> None:
    backend = tls_backend(procs, log_dir, ca, tmp_path)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    good = start(procs, log_dir, backends, calculator=f"{backend.address}?tls=1&tls_server_name=calculator.test",
                 GATEWAY_TLS_CA_FILE=str(tmp_path / "ca.pem"))
    assert requests.get(f"{good.url}/add/20/22").json() == {"result": 42}
    assert requests.get(f"{good.url}/readyz").status_code == 200
    for options, env in (("tls=1&tls_server_name=calculator.test", {}),  # the system's CAs do not know ours
                         ("tls=1&tls_server_name=other.test", {"GATEWAY_TLS_CA_FILE": str(tmp_path / "ca.pem")})):
        bad = start(procs, log_dir, backends, calculator=f"{backend.address}?{options}", **env)
        r = requests.get(f"{bad.url}/add/1/1")
        assert_problem(r, 503, "backend_unavailable")
        assert "TLS" in r.json()["detail"]
        assert requests.get(f"{bad.url}/readyz").status_code == 503
    plain = start(procs, log_dir, backends, calculator=backend.address)  # no tls option: no answer it can read
    assert requests.get(f"{plain.url}/add/1/1").status_code in (502, 503, 504)


def test_mutual_tls(procs: list[Process], log_dir: Path, tmp_path: Path, ca: trustme.CA,
                    backends: tuple[Backend, Backend]) -> None:
    backend = tls_backend(procs, log_dir, ca, tmp_path, client_ca=True)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client = ca.issue_cert("gateway.test")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    options = f"{backend.address}?tls=1&tls_server_name=calculator.test"
    anonymous = start(procs, log_dir, backends, calculator=options, GATEWAY_TLS_CA_FILE=str(tmp_path / "ca.pem"))
    assert_problem(requests.get(f"{anonymous.url}/add/1/1"), 503, "backend_unavailable")
    known = start(procs, log_dir, backends, calculator=options, GATEWAY_TLS_CA_FILE=str(tmp_path / "ca.pem"),
                  GATEWAY_TLS_CERT_FILE=str(tmp_path / "client.pem"), GATEWAY_TLS_KEY_FILE=str(tmp_path / "client.key"))
    assert requests.get(f"{known.url}/add/1/1").json() == {"result": 2}
    assert "Traceback" not in backend.output()


# CORS --------------------------------------------------------------------------------------------

def test_cors_preflight_and_answers(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend],
                                    tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    key = add_key(keys, "web", "*")
    gw = start(procs, log_dir, backends, GATEWAY_CORS_ORIGINS="https://app.example", GATEWAY_AUTH="api_key",
               GATEWAY_API_KEYS_FILE=str(keys), GATEWAY_RATE_LIMIT="100/second")
    # The exchange a browser makes before a PUT with an Authorization header: no credentials.
    pre = requests.options(f"{gw.url}/cache/web", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "PUT" in pre.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert "RateLimit-Limit" not in pre.headers  # preflights are not counted
    r = requests.put(f"{gw.url}/cache/web", headers={"Origin": "https://app.example", **as_(key)}, json={"value": 1})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in r.headers["Access-Control-Expose-Headers"] and r.headers["Vary"] == "Origin"
    refused = requests.get(f"{gw.url}/cache/web", headers={"Origin": "https://app.example"})  # no key
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = requests.options(f"{gw.url}/cache/web", headers={"Origin": "https://evil.example",
                                                            "Access-Control-Request-Method": "PUT"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_headers_without_the_setting(procs: list[Process], log_dir: Path, backends: tuple[Backend, Backend]
                                             ) -> None:
    gw = start(procs, log_dir, backends)
    r = requests.get(f"{gw.url}/add/1/1", headers={"Origin": "https://app.example"})
    assert r.status_code == 200 and not any(h.lower().startswith("access-control") for h in r.headers)


# Start-up -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("setting", ["none", "jwt_secret", "jwks", "redis_limits"])
def test_start_up_prints_no_monkey_patch_warning(procs: list[Process], log_dir: Path, tmp_path: Path,
                                                 backends: tuple[Backend, Backend], rsa_key: rsa.RSAPrivateKey,
                                                 setting: str) -> None:
    # Gunicorn's master imports gateway.http.guard (auth, rate limits) to check the settings
    # before it forks; a module that holds ssl.SSLContext by then (jwt.jwks_client,
    # redis.asyncio.connection) makes gevent warn in every worker when it patches ssl.
    jwks = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r1"}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    env, headers = {
        "none": ({}, {}),
        "jwt_secret": ({"GATEWAY_AUTH": "jwt", "GATEWAY_JWT_SECRET": SECRET}, as_(token())),
        "jwks": ({"GATEWAY_AUTH": "jwt", "GATEWAY_JWT_PUBLIC_KEY_FILE": str(tmp_path / "jwks.json")},
                 as_(token(rsa_key, "RS256", {"kid": "r1"}))),
        "redis_limits": ({"GATEWAY_RATE_LIMIT": "100/second",
                          "GATEWAY_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{free_port()}/0"}, {}),
    }[setting]
    gw = start(procs, log_dir, backends, **env)
    assert requests.get(f"{gw.url}/add/1/2", headers=headers).json() == {"result": 3}  # jwt imported now
    output = gw.output()
    assert "MonkeyPatchWarning" not in output and "Warning:" not in output, output
