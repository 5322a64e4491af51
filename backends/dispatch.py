"""What the generated ``Processor`` does with a call, over the shared method table.

The generated processor reads and writes through the pure-Python protocol classes, one
small read per header field; under load that was a fifth of a backend's CPU per call, and
it speaks only the protocol it is given. Here the codec (``thrift_wire``) decodes the
arguments in whatever format the client used, and this module calls the handler and
says what to answer - exactly what the generated ``process_<method>`` would:

* a declared exception goes into the result struct; ``TApplicationException`` and any
  other error are logged and answered as an application exception; transport errors
  propagate (the connection is dropped);
* an unknown method is answered ``TApplicationException(UNKNOWN_METHOD)`` under the name
  it was called by; a oneway method gets no answer, whatever happens in it;
* a call by ``Service:method`` (a ``TMultiplexedProtocol`` client) for this service is
  answered under the bare name, as ``TMultiplexedProcessor`` does.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TTransport import TTransportException

from thrift_wire.codec import IncomingCall
from thrift_wire.methods import MethodSpec, ServiceMethods
from thrift_wire.protocols import APPLICATION_EXCEPTION_SPEC

log = logging.getLogger(__name__)


class Reply(NamedTuple):
    name: str
    type: int
    value: Any
    spec: list[Any]
    failed: BaseException | None = None  # what the handler raised, declared or not


class Dispatcher:
    """Calls for one service's handler: what to decode each into, what to answer."""

    def __init__(self, methods: ServiceMethods, handler: Any) -> None:
        self._prefix = f"{methods.name}:"
        self._methods = {name: (spec, getattr(handler, name)) for name, spec in methods.methods.items()}

    def _find(self, name: str) -> tuple[MethodSpec, Any] | None:
        found = self._methods.get(name)
        if found is None and name.startswith(self._prefix):
            found = self._methods.get(name[len(self._prefix):])
        return found

    def lookup(self, name: str, mtype: int) -> tuple[Any, list[Any]] | None:
        """What to decode a message's arguments into (the codec's lookup)."""
        found = self._find(name) if mtype in (TMessageType.CALL, TMessageType.ONEWAY) else None
        if found is None:
            return None
        spec = found[0]
        return spec.args_class(), spec.args_spec

    def refuse(self, call: IncomingCall, message: str) -> Reply | None:
        """A TApplicationException in place of running the call (None for a oneway one)."""
        if call.type == TMessageType.ONEWAY:
            return None
        error = TApplicationException(TApplicationException.INTERNAL_ERROR, message)
        return Reply(call.name, TMessageType.EXCEPTION, error, APPLICATION_EXCEPTION_SPEC, error)

    def answer(self, call: IncomingCall) -> Reply | None:
        """The reply to ``call``, or None for a oneway call."""
        found = self._find(call.name) if call.args is not None else None
        if found is None:
            if call.type not in (TMessageType.CALL, TMessageType.ONEWAY):
                error = TApplicationException(TApplicationException.INVALID_MESSAGE_TYPE,
                                              f"a server does not take message type {call.type}")
            else:
                error = TApplicationException(TApplicationException.UNKNOWN_METHOD, f"Unknown function {call.name}")
            return Reply(call.name, TMessageType.EXCEPTION, error, APPLICATION_EXCEPTION_SPEC, error)
        method, function = found
        arguments = [getattr(call.args, n) for n in method.arg_names]
        if method.oneway:
            try:
                function(*arguments)
            except TTransportException:
                raise
            except Exception:
                log.exception("Exception in oneway handler")
            return None
        assert method.result_class is not None and method.result_spec is not None
        result = method.result_class()
        try:
            value = function(*arguments)
            if method.returns_value:
                result.success = value
        except TTransportException:
            raise
        except Exception as err:
            field = next((f for cls, f in method.declared if isinstance(err, cls)), None)
            if field is None:
                return Reply(method.name, TMessageType.EXCEPTION, _application_exception(err),
                             APPLICATION_EXCEPTION_SPEC, err)
            setattr(result, field, err)
            return Reply(method.name, TMessageType.REPLY, result, method.result_spec, err)
        return Reply(method.name, TMessageType.REPLY, result, method.result_spec)


def _application_exception(err: Exception) -> TApplicationException:
    if isinstance(err, TApplicationException):
        log.exception("TApplication exception in handler")
        return err
    log.exception("Unexpected exception in handler")
    return TApplicationException(TApplicationException.INTERNAL_ERROR, "Internal error")
