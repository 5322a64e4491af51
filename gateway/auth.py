"""Who is calling: API keys or JWTs, checked with the field's own libraries.

``GATEWAY_AUTH`` picks one ``Authenticator``; it is built once at start-up (a missing keys
file or JWT key is a ``ConfigError``: the gateway never starts open by mistake) and asked
once per request with the request's headers. It answers a ``Client`` (a name and its
permissions) or raises ``Unauthenticated``. Nothing here knows HTTP routes; ``access``
decides what a client may do.

* API keys: a file of ``NAME SHA256_HEX PERMISSION...`` lines. Only hashes are stored, so
  the file is no secret; a presented key is hashed and compared with
  ``hmac.compare_digest`` against every line (no early exit that timing could reveal).
* JWT: PyJWT verifies the signature with the configured key and only the algorithms that
  key allows - never the ones the token names for itself, which is how the ``alg: none``
  and the HS256-signed-with-an-RSA-public-key attacks work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.config import ConfigError, Settings
from gateway.errors import Unauthenticated

_HEX64 = re.compile(r"[0-9a-f]{64}")
_VERIFIED_TOKENS = 4096  # verified tokens remembered per worker


@dataclass(frozen=True)
class Client:
    name: str
    permissions: tuple[str, ...]


ANONYMOUS = Client("", ("*",))  # GATEWAY_AUTH=none: everyone may do everything, as in v1


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer TOKEN`` (``headers`` are WSGI-style keys)."""
    value = headers.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    required = True  # False only for GATEWAY_AUTH=none

    def authenticate(self, headers: Mapping[str, str]) -> Client:
        raise NotImplementedError


class NoAuth(Authenticator):
    required = False

    def authenticate(self, headers: Mapping[str, str]) -> Client:
        return ANONYMOUS


class ApiKeys(Authenticator):
    """Keys sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""

    def __init__(self, entries: list[tuple[bytes, Client]]) -> None:
        self._entries = entries

    @classmethod
    def from_file(cls, path: Path, variable: str = "GATEWAY_API_KEYS_FILE") -> ApiKeys:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{variable}: cannot read {path}: {err.strerror}") from None
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 2 or not _HEX64.fullmatch(fields[1].lower()):
                raise ConfigError(f"{variable}: {path}:{number} is not NAME SHA256_HEX PERMISSION...")
            entries.append((bytes.fromhex(fields[1]), Client(fields[0], tuple(fields[2:]))))
        return cls(entries)

    def authenticate(self, headers: Mapping[str, str]) -> Client:
        key = headers.get("HTTP_X_API_KEY") or bearer(headers)
        if not key:
            raise Unauthenticated("no API key (Authorization: Bearer KEY, or X-API-Key: KEY)")
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = None
        for stored, client in self._entries:  # every line, whatever matched: constant time
            if hmac.compare_digest(stored, digest):
                found = client
        if found is None:
            raise Unauthenticated("unknown API key")
        return found


def key_line(name: str, key: str, permissions: list[str]) -> str:
    """The keys file's line for ``key``: its name, its SHA-256, its permissions."""
    return " ".join([name, hashlib.sha256(key.encode("utf-8")).hexdigest(), *permissions])


@dataclass(frozen=True)
class _VerificationKey:
    key: Any
    algorithms: tuple[str, ...]


class Jwts(Authenticator):
    """``Authorization: Bearer JWT``: signature, ``exp`` (required), ``nbf``, and the
    audience and issuer when they are configured."""

    def __init__(self, keys: dict[str | None, _VerificationKey], *, audience: str | None, issuer: str | None) -> None:
        # A JWKS's keys by kid; under None, the one key a token without kid may use (a
        # secret, a PEM key, or a JWKS that holds one key).
        self._by_kid = {kid: key for kid, key in keys.items() if kid is not None}
        self._default = keys.get(None)
        self._audience = audience
        self._issuer = issuer
        # Tokens already verified, with their validity window: a client sends the same
        # token with every request, and verifying it (JSON, base64, the signature, the
        # claims) cost more than the rest of the guard. Only exp and nbf can change a
        # verified token's answer, and they are checked again on every use.
        self._verified: dict[str, tuple[Client, float, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Jwts:
        if settings.jwt_secret and settings.jwt_public_key_file:
            raise ConfigError("GATEWAY_JWT_SECRET and GATEWAY_JWT_PUBLIC_KEY_FILE: set one, not both")
        if settings.jwt_secret:
            if len(settings.jwt_secret.encode()) < 32:
                raise ConfigError("GATEWAY_JWT_SECRET: use at least 32 bytes (HS256 needs a 256-bit secret)")
            keys = {None: _VerificationKey(settings.jwt_secret.encode(), ("HS256",))}
        elif settings.jwt_public_key_file:
            keys = _public_keys(Path(settings.jwt_public_key_file))
        else:
            raise ConfigError("GATEWAY_AUTH=jwt needs GATEWAY_JWT_SECRET or GATEWAY_JWT_PUBLIC_KEY_FILE")
        return cls(keys, audience=settings.jwt_audience or None, issuer=settings.jwt_issuer or None)

    def authenticate(self, headers: Mapping[str, str]) -> Client:
        token = bearer(headers)
        if not token:
            raise Unauthenticated("no token (Authorization: Bearer JWT)")
        cached = self._verified.get(token)
        if cached is not None:
            client, not_before, expires = cached
            if not_before <= time.time() < expires:
                return client
            del self._verified[token]
        client, not_before, expires = self._verify(token)
        if len(self._verified) >= _VERIFIED_TOKENS:
            self._verified.clear()  # bounded memory; the busy tokens come straight back
        self._verified[token] = (client, not_before, expires)
        return client

    def _verify(self, token: str) -> tuple[Client, float, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as err:
            raise Unauthenticated(f"not a JWT: {err}") from None
        # With a JWKS the kid chooses the key (an unknown one is refused); a token
        # without kid is verified with the one key there is, if there is only one.
        key = self._by_kid.get(kid) if kid is not None and self._by_kid else self._default
        if key is None:
            raise Unauthenticated("no key for this token's kid" if kid is not None else
                                  "the token has no kid and the JWKS holds several keys")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=list(key.algorithms), audience=self._audience, issuer=self._issuer,
                options={"require": ["exp"], "verify_aud": self._audience is not None,
                         "verify_iss": self._issuer is not None},
            )
        except jwt.PyJWTError as err:
            raise Unauthenticated(f"token refused: {err}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("token refused: no sub")
        scope = claims.get("scope", "")
        client = Client(subject, tuple(scope.split()) if isinstance(scope, str) else ())
        return client, float(claims.get("nbf", 0)), float(claims["exp"])


def _public_keys(path: Path) -> dict[str | None, _VerificationKey]:
    variable = "GATEWAY_JWT_PUBLIC_KEY_FILE"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{variable}: cannot read {path}: {err.strerror}") from None
    if data.lstrip().startswith(b"{"):
        return _jwks(json.loads(data), variable, path)
    try:
        public = load_pem_public_key(data)
    except ValueError as err:
        raise ConfigError(f"{variable}: {path} is neither a PEM public key nor a JWKS: {err}") from None
    return {None: _VerificationKey(public, (_algorithm_for(public, variable),))}


def _algorithm_for(public: Any, variable: str) -> str:
    if isinstance(public, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return "ES256"
    raise ConfigError(f"{variable}: only RSA (RS256) and P-256 EC (ES256) keys are supported")


def _jwks(document: Any, variable: str, path: Path) -> dict[str | None, _VerificationKey]:
    try:
        keys = [jwt.PyJWK(entry) for entry in document["keys"]]
    except (KeyError, TypeError, jwt.PyJWTError) as err:
        raise ConfigError(f"{variable}: {path} is not a usable JWKS: {err}") from None
    out: dict[str | None, _VerificationKey] = {}
    for key in keys:
        if key.algorithm_name not in ("RS256", "ES256"):
            raise ConfigError(f"{variable}: {path}: key {key.key_id!r} is {key.algorithm_name}; RS256 or ES256 only")
        out[key.key_id] = _VerificationKey(key.key, (key.algorithm_name,))
    if not out:
        raise ConfigError(f"{variable}: {path} holds no keys")
    if len(out) == 1 and None not in out:
        out = {None: next(iter(out.values())), **out}  # a token without kid may use the one key
    return out


def authenticator(settings: Settings) -> Authenticator:
    """The authenticator ``GATEWAY_AUTH`` asks for; raises ConfigError."""
    if settings.auth == "none":
        return NoAuth()
    if settings.auth == "api_key":
        if not settings.api_keys_file:
            raise ConfigError("GATEWAY_AUTH=api_key needs GATEWAY_API_KEYS_FILE")
        return ApiKeys.from_file(Path(settings.api_keys_file))
    if settings.auth == "jwt":
        return Jwts.from_settings(settings)
    raise ConfigError(f"GATEWAY_AUTH: {settings.auth!r} is not one of none, api_key, jwt")
