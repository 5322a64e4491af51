"""Serving a processor the way users run Apache's Python servers, for the test servers
(tests/interop_server.py, tests/rest_server.py): TSimpleServer or TThreadedServer, framed
or buffered transport (or THeader, which reads every client type), binary, compact or
JSON protocol. Prints ``<name> listening on HOST:PORT`` once it accepts connections."""

from __future__ import annotations

from typing import Any

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAcceleratedFactory
from thrift.protocol.TCompactProtocol import TCompactProtocolAcceleratedFactory
from thrift.protocol.THeaderProtocol import THeaderProtocolFactory
from thrift.protocol.TJSONProtocol import TJSONProtocolFactory
from thrift.server.TServer import TSimpleServer, TThreadedServer
from thrift.transport.THeaderTransport import THeaderClientType
from thrift.transport.TSocket import TServerSocket
from thrift.transport.TTransport import TBufferedTransportFactory, TFramedTransportFactory


def protocol_factory(transport: str, protocol: str) -> Any:
    if transport == "header":
        client_types = [THeaderClientType.HEADERS, THeaderClientType.FRAMED_BINARY,
                        THeaderClientType.UNFRAMED_BINARY, THeaderClientType.FRAMED_COMPACT,
                        THeaderClientType.UNFRAMED_COMPACT]
        return THeaderProtocolFactory(allowed_client_types=client_types)
    return {"binary": TBinaryProtocolAcceleratedFactory, "compact": TCompactProtocolAcceleratedFactory,
            "json": TJSONProtocolFactory}[protocol]()


def serve(name: str, processor: Any, *, host: str = "127.0.0.1", port: int = 0, server: str = "threaded",
          transport: str = "framed", protocol: str = "binary") -> int:
    """Serve ``processor`` until interrupted; 0 for the exit status."""
    # A THeader server reads its own framing from the raw stream.
    transport_factory = TFramedTransportFactory() if transport == "framed" else TBufferedTransportFactory()
    socket = TServerSocket(host=host, port=port)
    socket.listen()
    socket.listen = lambda: None  # type: ignore[method-assign] # serve() would listen again
    protocols = protocol_factory(transport, protocol)
    if server == "simple":
        running: Any = TSimpleServer(processor, socket, transport_factory, protocols)
    else:
        running = TThreadedServer(processor, socket, transport_factory, protocols, daemon=True)
    bound_host, bound_port = socket.handle.getsockname()[:2]
    print(f"{name} listening on {bound_host}:{bound_port}", flush=True)
    try:
        running.serve()
    except KeyboardInterrupt:
        pass
    return 0
