"""Thrift clients over HTTP: ``POST /thrift/<service>``, the body one call message.

Apache's ``THttpClient`` (the seed design's client), Java's ``THttpClient`` and the
JavaScript library send a call as the body of a POST; the gateway sends it on to the
service's backends in their own configured format (a browser's TJSON reaches a framed
compact server) and answers the reply in the client's protocol, with the client's
sequence id and Content-Type. Media types as LINE's Armeria takes them:

* ``application/x-thrift`` with ``; protocol=TBINARY|TCOMPACT|TJSON``, held to; without it -
  all Apache's ``THttpClient`` can send, whatever its protocol - the message's first byte
  tells (strict binary ``0x80``, compact ``0x82``, JSON ``[``);
* ``application/vnd.apache.thrift.binary``, ``.compact``, ``.json`` (the JavaScript library
  adds ``; charset=utf-8``).

What a Thrift client can read stays Thrift: an unknown or unexposed method is a
``TApplicationException`` (UNKNOWN_METHOD) reply, a backend's declared exception or
``TApplicationException`` goes back as the backend sent it. What the HTTP layer refuses
is an HTTP status with a problem document: 401/403/429 (the permission is
``service.method``, read from the message), 405 for another method, 415 for another
Content-Type, 413 for a body over the limit, 400 ``invalid_thrift``, 503/504.
"""

from __future__ import annotations

from typing import Any

from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TException, TMessageType
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

from gateway.errors import BadGateway, InvalidThrift, NotFound, UnsupportedMediaType
from gateway.http import deadlines, validation
from gateway.http.handlers import Context, Reply, call_headers
from gateway.http.wsgi_types import Environ
from gateway.security import permissions
from thrift_wire.protocols import APPLICATION_EXCEPTION_SPEC, PROTOCOLS, Protocol

X_THRIFT = "application/x-thrift"
_VND = {"application/vnd.apache.thrift.binary": "binary", "application/vnd.apache.thrift.compact": "compact",
        "application/vnd.apache.thrift.json": "json"}
_DECLARED = {"TBINARY": "binary", "TCOMPACT": "compact", "TJSON": "json"}
_FIRST_BYTE = {0x80: "binary", 0x82: "compact", ord("["): "json"}
_CALLS = (TMessageType.CALL, TMessageType.ONEWAY)


def client_protocol(content_type: str, body: bytes) -> str:
    """The protocol a request's body is in, by its Content-Type (and, for a plain
    ``application/x-thrift``, its first byte)."""
    mime, options = parse_options_header(content_type)
    mime = mime.lower()
    if mime in _VND:
        return _VND[mime]
    if mime != X_THRIFT:
        raise UnsupportedMediaType(f"Content-Type {content_type[:80]!r} is not application/x-thrift or "
                                   "application/vnd.apache.thrift.binary, .compact or .json")
    declared = options.get("protocol")
    if declared is not None:
        if declared.upper() not in _DECLARED:
            raise UnsupportedMediaType(f"protocol={declared[:20]!r}: TBINARY, TCOMPACT or TJSON")
        return _DECLARED[declared.upper()]
    found = _FIRST_BYTE.get(body[0]) if body else None
    if found is None:
        raise InvalidThrift("the body is not a Thrift message in binary, compact or JSON")
    return found


def call(ctx: Context, environ: Environ, service: str) -> Reply:
    """The handler of ``POST /thrift/<service>``."""
    rpc_service = ctx.rpc.services.get(service)
    if rpc_service is None:
        raise NotFound(f"no Thrift service {service!r} (GET /rpc lists them)")
    client = rpc_service.client
    exposed = rpc_service.types.methods
    body = validation.read_body(environ, get_content_length(environ))
    content_type = environ.get("CONTENT_TYPE", "")
    protocol = PROTOCOLS[client_protocol(content_type, body)]

    def lookup(name: str, mtype: int) -> tuple[Any, list[Any]] | None:
        spec = client.methods.get(_bare(name)) if _bare(name) in exposed and mtype in _CALLS else None
        return None if spec is None else (spec.args_class(), spec.args_spec)

    try:
        message = protocol.decode(body, lookup)
    except TProtocolException as err:
        raise InvalidThrift(f"not a call message in {protocol.name}: {err}") from None
    if message is None or message.end != len(body) or message.type not in _CALLS:
        raise InvalidThrift(f"the body is not one whole call message in {protocol.name}")
    name = _bare(message.name)
    # Checked before anything is said of the method, so that a client without the
    # permission learns nothing of which methods exist (403, as on /rpc).
    permissions.require(environ, f"{service}.{name}")
    answer = _answer(content_type, protocol, name, message.seqid)
    prefix = message.name.rpartition(":")[0]
    if message.value is None or prefix not in ("", service, rpc_service.types.name):
        # Not a method /thrift serves (the lookup gave none), or one of another service.
        return answer(TMessageType.EXCEPTION, TApplicationException(
            TApplicationException.UNKNOWN_METHOD, f"Unknown function {message.name}"), APPLICATION_EXCEPTION_SPEC)
    spec = client.methods[name]
    args = tuple(getattr(message.value, arg) for arg in spec.arg_names)
    result = spec.result_class() if spec.result_class is not None else None
    try:
        value = client.invoke(name, *args, headers=call_headers(environ), deadline=deadlines.of(environ))
    except BadGateway as err:
        # The backend answered a TApplicationException: the client gets it as it was sent.
        if isinstance(err.__cause__, TApplicationException):
            return answer(TMessageType.EXCEPTION, err.__cause__, APPLICATION_EXCEPTION_SPEC)
        raise
    except TException as err:  # declared in the IDL: in the reply's struct, as the backend sent it
        field = next((f for cls, f in spec.declared if isinstance(err, cls)), None)
        if field is None or result is None:
            raise
        setattr(result, field, err)
        return answer(TMessageType.REPLY, result, spec.result_spec)
    if result is None:
        return Reply(200, b"", content_type=content_type or X_THRIFT)  # oneway: sent
    if spec.returns_value:
        result.success = value
    return answer(TMessageType.REPLY, result, spec.result_spec)


def _bare(name: str) -> str:
    """A multiplexed client's ``Service:method`` as the method (TMultiplexedProcessor's way)."""
    return name.rsplit(":", 1)[-1]


def _answer(content_type: str, protocol: Protocol, name: str, seqid: int) -> Any:
    def answer(mtype: int, value: Any, spec: list[Any] | None) -> Reply:
        data = protocol.encode(name.encode("utf-8"), mtype, seqid, value, spec)  # type: ignore[arg-type]
        return Reply(200, data, content_type=content_type or X_THRIFT)

    return answer
