"""gateway/security/auth.py in-process: hostile claims, key files, and what importing it pulls in."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.config import ConfigError, Settings
from gateway.errors import Unauthenticated
from gateway.security.auth import ApiKeys, Client, authenticator
from tests.harness import ROOT

SECRET = "s" * 40


def hs256(**claims: Any) -> str:
    body = {"sub": "alice", "scope": "calculator.add", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, algorithm="HS256")


def authenticate(token: str, **settings: str) -> Client:
    auth = authenticator(Settings(auth="jwt", **(settings or {"jwt_secret": SECRET})))
    return auth.authenticate({"HTTP_AUTHORIZATION": f"Bearer {token}"})


def test_a_good_token() -> None:
    assert authenticate(hs256()) == Client("alice", ("calculator.add",))
    assert authenticate(hs256(exp=1e300, nbf=-1e300)).name == "alice"  # finite floats are dates


@pytest.mark.parametrize("claims", [
    {"exp": 10**400},  # PyJWT's int() takes it; no float holds it
    {"nbf": -10**400},
    {"exp": -10**400},
    {"exp": "9999999999"},  # a NumericDate is a JSON number (RFC 7519), not a string
    {"nbf": "0"},
    {"exp": True},
])
def test_a_date_that_is_not_a_finite_number_is_401(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated, match="NumericDate|must be an integer|expired"):
        authenticate(hs256(**claims))


def test_a_sub_that_is_not_unicode_text_is_401() -> None:
    token = hs256(sub="\ud800")  # JSON "\ud800": a lone surrogate, no UTF-8 encoding
    with pytest.raises(Unauthenticated, match="sub is not valid Unicode"):
        authenticate(token)
    assert authenticate(hs256(sub="\U0001f600 b\u00e9b\u00e9")).name == "\U0001f600 b\u00e9b\u00e9"


def test_a_refused_token_stays_refused() -> None:
    # The verified-token cache must never hold a token that failed a check.
    auth = authenticator(Settings(auth="jwt", jwt_secret=SECRET))
    token = hs256(exp=10**400)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate({"HTTP_AUTHORIZATION": f"Bearer {token}"})


def jwk(public: Any, **extra: Any) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(public)), **extra}


def test_a_jwks_is_read_without_pyjwt(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(rsa_key.public_key(), kid="r"), jwk(ec_key.public_key(), kid="e")]}))
    settings = {"jwt_public_key_file": str(path)}
    claims = {"sub": "bob", "exp": int(time.time()) + 60}
    assert authenticate(jwt.encode(claims, rsa_key, "RS256", headers={"kid": "r"}), **settings).name == "bob"
    assert authenticate(jwt.encode(claims, ec_key, "ES256", headers={"kid": "e"}), **settings).name == "bob"
    with pytest.raises(Unauthenticated):  # the EC key's kid on an RSA signature
        authenticate(jwt.encode(claims, rsa_key, "RS256", headers={"kid": "e"}), **settings)


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not a JWKS"),
    (b'{"keys": 3}', "no \"keys\" list"),
    (b'{"keys": []}', "holds no keys"),
    (b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}', "RS256 \\(RSA\\) or ES256"),
    (b'{"keys": [{"kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"}]}', "RS256 \\(RSA\\) or ES256"),
    (b'{"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}', "RS256 \\(RSA\\) or ES256"),
    (b'{"keys": [{"kty": "EC", "x": "AA", "y": "AA"}]}', "32 bytes"),
    (b'{"keys": [{"kty": "RSA", "e": "AQAB"}]}', "'n'"),
    (b'{"keys": [{"kty": "EC", "x": "' + b"A" * 43 + b'", "y": "' + b"A" * 43 + b'"}]}', "."),  # not on the curve
    (b'{"keys": [{"kty": "RSA", "n": "AQAB", "e": 3}]}', "not a string"),
    (b'{"keys": ["\xff"]}', "not a JWKS"),
])
def test_a_bad_jwks_is_a_config_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        authenticator(Settings(auth="jwt", jwt_public_key_file=str(path)))
    assert str(caught.value).startswith("GATEWAY_JWT_PUBLIC_KEY_FILE")


def test_a_keys_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_bytes(b"caf\xe9 " + b"0" * 64 + b" *\n")  # Latin-1, not UTF-8
    with pytest.raises(ConfigError, match="GATEWAY_API_KEYS_FILE: .* is not UTF-8"):
        ApiKeys.from_file(path)


def test_the_key_cli_refuses_a_name_that_is_not_text(tmp_path: Path) -> None:
    # A name from argv that is not UTF-8 arrives with surrogate escapes.
    path = tmp_path / "keys.txt"
    done = subprocess.run([sys.executable, "-m", "gateway.keys", "add", b"caf\xe9".decode("utf-8", "surrogateescape"),
                           "*", "--file", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "UTF-8" in done.stderr
    assert not path.exists() or path.read_text() == ""


@pytest.mark.parametrize("kind", ["none", "secret", "pem", "jwks"])
def test_pyjwt_is_not_imported_before_the_first_token(tmp_path: Path, kind: str) -> None:
    # Gunicorn's master builds the authenticator to check the settings before it forks;
    # jwt.jwks_client's `from ssl import SSLContext` would make gevent warn in each worker.
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(public)]}))
    (tmp_path / "public.pem").write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    settings = {"none": "auth='none'", "secret": f"auth='jwt', jwt_secret={SECRET!r}",
                "pem": f"auth='jwt', jwt_public_key_file={str(tmp_path / 'public.pem')!r}",
                "jwks": f"auth='jwt', jwt_public_key_file={str(tmp_path / 'jwks.json')!r}"}[kind]
    code = ("import sys\nfrom gateway.security.auth import authenticator\nfrom gateway.config import Settings\n"
            f"authenticator(Settings({settings}))\n"
            "assert 'jwt' not in sys.modules, 'jwt imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
