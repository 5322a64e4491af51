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

PyJWT is imported on first use, never at import time: Gunicorn's master imports this
module (to check the settings) before it forks, and ``jwt`` imports ``jwt.jwks_client``,
which holds ``ssl.SSLContext`` by a direct reference (``from ssl import SSLContext``).
gevent patches ``ssl`` in each worker after the fork and warns (``MonkeyPatchWarning``)
about every module holding such a reference. So the keys (PEM, JWKS) are read here with
``cryptography`` alone, and ``jwt`` is imported by the worker at its first token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

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
        except UnicodeDecodeError as err:  # names are UTF-8 text: they go to logs and rate-limit stores
            raise ConfigError(f"{variable}: {path} is not UTF-8 text (byte {err.start})") from None
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
        jwt = _pyjwt()
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
        if not _is_text(subject):
            # A JSON string may hold a lone surrogate ("\ud800"), which no UTF-8 text can
            # hold: not a name a log, a rate-limit store or a backend can carry.
            raise Unauthenticated("token refused: sub is not valid Unicode text")
        scope = claims.get("scope", "")
        client = Client(subject, tuple(scope.split()) if isinstance(scope, str) else ())
        return client, _numeric_date(claims, "nbf", 0.0), _numeric_date(claims, "exp")


_jwt: ModuleType | None = None


def _pyjwt() -> ModuleType:
    """PyJWT, imported on first use (see the module's docstring for why not earlier)."""
    global _jwt
    if _jwt is None:
        import jwt

        _jwt = jwt
    return _jwt


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _numeric_date(claims: dict[str, Any], name: str, default: float | None = None) -> float:
    """A NumericDate claim as a float (RFC 7519: a JSON number of seconds). PyJWT checks
    it with ``int()``, which takes strings and integers no float can hold (``10**400``);
    anything that is not a finite float is a malformed token."""
    value = claims.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise Unauthenticated(f"token refused: {name} is not a NumericDate (a finite number of seconds)")


def _public_keys(path: Path) -> dict[str | None, _VerificationKey]:
    variable = "GATEWAY_JWT_PUBLIC_KEY_FILE"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{variable}: cannot read {path}: {err.strerror}") from None
    if data.lstrip().startswith(b"{"):
        try:
            document = json.loads(data)
        except ValueError as err:  # not JSON, or not UTF-8
            raise ConfigError(f"{variable}: {path} is not a JWKS: {err}") from None
        return _jwks(document, variable, path)
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
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{variable}: {path} is not a JWKS (no \"keys\" list)")
    out: dict[str | None, _VerificationKey] = {}
    for number, entry in enumerate(entries):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        try:
            out[kid if isinstance(kid, str) else None] = _jwk(entry)
        except (ValueError, TypeError, KeyError) as err:  # binascii.Error is a ValueError
            raise ConfigError(f"{variable}: {path}: key {kid if kid is not None else number!r}: {err}") from None
    if not out:
        raise ConfigError(f"{variable}: {path} holds no keys")
    if len(out) == 1 and None not in out:
        out = {None: next(iter(out.values())), **out}  # a token without kid may use the one key
    return out


def _jwk(entry: Any) -> _VerificationKey:
    """One public JWK (RFC 7517/7518) as a key object, as PyJWT's ``PyJWK`` reads it: the
    algorithm is the key's ``alg``, else RS256 for ``kty: RSA`` and ES256 for ``kty: EC``
    on P-256. Only those two are accepted."""
    if not isinstance(entry, dict):
        raise TypeError("not a JSON object")
    kty, algorithm = entry.get("kty"), entry.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(entry.get("kty"))
    if (kty, algorithm) == ("RSA", "RS256"):
        public: Any = rsa.RSAPublicNumbers(_b64_uint(entry["e"]), _b64_uint(entry["n"])).public_key()
    elif (kty, algorithm) == ("EC", "ES256") and entry.get("crv", "P-256") == "P-256":
        x, y = _b64(entry["x"]), _b64(entry["y"])
        if len(x) != 32 or len(y) != 32:
            raise ValueError("x and y of a P-256 key are 32 bytes each")
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                               ec.SECP256R1()).public_key()
    else:
        raise ValueError(f"kty {kty!r}, alg {algorithm!r}, crv {entry.get('crv')!r}: "
                         "RS256 (RSA) or ES256 (EC P-256) only")
    return _VerificationKey(public, (algorithm,))


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("a key member is not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64_uint(text: Any) -> int:
    return int.from_bytes(_b64(text), "big")


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
