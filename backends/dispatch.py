"""The generated ``Processor``'s work for an ordinary call, without its pure-Python framing.

Apache's generated processor reads the message header through the pure-Python protocol
(a dozen small reads and struct calls) and writes the reply header the same way; under
load that was a fifth of a backend's CPU per call. Here a strict binary-protocol CALL or
ONEWAY message for a known method is decoded and answered directly - arguments and
result through ``fastbinary``, as the generated code does - and anything else (an unknown
method, an old non-strict header, a message type a server never receives) is left to
the generated processor, which answers it as it always has.

What the handler raises is treated exactly as the generated ``process_<method>`` treats
it: a declared exception goes into the result, ``TApplicationException`` and any other
error are logged and answered as an application exception, transport errors propagate.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from struct import Struct
from typing import Any, Callable

from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TTransport import TMemoryBuffer, TTransportException

from thrift_idl import wire

log = logging.getLogger(__name__)

_HEAD = Struct("!ii")  # version and type, method name length


@dataclass(frozen=True)
class _Method:
    name: str
    call: Callable[..., Any]  # the handler's method
    arg_names: tuple[str, ...]  # in the IDL's order, as the generated code passes them
    args_spec: list[Any]
    result_class: type | None  # None: oneway
    result_spec: list[Any] | None
    returns: bool  # False for void: its result class has no `success` (with `py:slots` none can be added)
    declared: tuple[tuple[type, str], ...]  # exception class -> its field in the result
    reply_head: bytes  # strict REPLY header up to the sequence id
    exception_head: bytes  # strict EXCEPTION header up to the sequence id


class Dispatcher:
    """Answers call messages for one generated service module and its handler."""

    def __init__(self, module: Any, handler: Any) -> None:
        self._methods: dict[bytes, _Method] = {}
        for name in vars(module.Iface):
            if name.startswith("_"):
                continue
            args_class = getattr(module, f"{name}_args")
            result_class = getattr(module, f"{name}_result", None)
            declared = tuple((f[3][0], f[2]) for f in (result_class.thrift_spec if result_class else ())
                             if f is not None and f[0] != 0)
            encoded = name.encode("utf-8")
            self._methods[encoded] = _Method(
                name=name,
                call=getattr(handler, name),
                arg_names=tuple(inspect.signature(getattr(module.Iface, name)).parameters)[1:],
                args_spec=[args_class, args_class.thrift_spec],
                result_class=result_class,
                result_spec=[result_class, result_class.thrift_spec] if result_class else None,
                returns=any(f is not None and f[0] == 0 for f in (result_class.thrift_spec if result_class else ())),
                declared=declared,
                reply_head=wire.message_head(TMessageType.REPLY, encoded),
                exception_head=wire.message_head(TMessageType.EXCEPTION, encoded),
            )

    def answer(self, message: bytes) -> bytes | None:
        """The reply message (``b""`` for a oneway call), or None when the message is not
        an ordinary call: the generated processor must answer it."""
        if len(message) < 12:
            return None
        version, name_size = _HEAD.unpack_from(message, 0)
        message_type = version & 0xFF
        if (version & TBinaryProtocol.VERSION_MASK != TBinaryProtocol.VERSION_1
                or message_type not in (TMessageType.CALL, TMessageType.ONEWAY)):
            return None
        body_at = 12 + name_size
        if not 0 <= name_size <= len(message) - 12:
            return None
        method = self._methods.get(message[8 : 8 + name_size])
        if method is None or (message_type == TMessageType.ONEWAY) != (method.result_class is None):
            return None
        seqid = message[8 + name_size : body_at]
        args = method.args_spec[0]()
        fastbinary.decode_binary(args, wire.FastDecoderInput(message[body_at:]), method.args_spec)
        if method.result_class is None:
            self._oneway(method, args)
            return b""
        result = method.result_class()
        try:
            value = method.call(*[getattr(args, n) for n in method.arg_names])
            if method.returns:
                result.success = value
        except TTransportException:
            raise
        except Exception as err:
            field = next((f for cls, f in method.declared if isinstance(err, cls)), None)
            if field is None:
                return method.exception_head + seqid + _application_exception(err)
            setattr(result, field, err)
        return method.reply_head + seqid + fastbinary.encode_binary(result, method.result_spec)

    @staticmethod
    def _oneway(method: _Method, args: Any) -> None:
        try:
            method.call(*[getattr(args, n) for n in method.arg_names])
        except TTransportException:
            raise
        except Exception:
            log.exception("Exception in oneway handler")


def _application_exception(err: Exception) -> bytes:
    if isinstance(err, TApplicationException):
        log.exception("TApplication exception in handler")
        reply = err
    else:
        log.exception("Unexpected exception in handler")
        reply = TApplicationException(TApplicationException.INTERNAL_ERROR, "Internal error")
    out = TMemoryBuffer()
    reply.write(TBinaryProtocolAccelerated(out, fallback=False))
    return out.getvalue()
