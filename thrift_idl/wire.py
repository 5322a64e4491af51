"""The wire format both sides speak: framed transport, accelerated binary protocol.

The gateway and the backends import their transports and protocols from here so the two
can never disagree, and so that every Thrift connection in the product has length limits.
"""

from __future__ import annotations

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TTransport import TFramedTransport, TTransportBase

try:
    # Without the C extension the protocol silently falls back to pure Python, several
    # times slower; refuse to start instead of running slow without anyone noticing.
    from thrift.protocol import fastbinary  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the installed wheel
    raise ImportError(
        "thrift.protocol.fastbinary (the C extension of the thrift package) is missing; "
        "reinstall thrift from the pinned wheel: make install"
    ) from err

# The largest message is a cache value (1 MiB) plus its key and framing; 4 MiB leaves room
# without letting a peer that announces a huge frame make us allocate it.
MAX_FRAME_BYTES = 4 * 1024 * 1024
# A string or binary field never exceeds a cache value; containers are tiny in our IDL.
MAX_STRING_BYTES = 2 * 1024 * 1024
MAX_CONTAINER_ITEMS = 65536


def protocol(transport: TTransportBase) -> TBinaryProtocolAccelerated:
    """Wrap a raw (socket) transport in our framing and protocol, limits included."""
    framed = TFramedTransport(transport, max_frame_size=MAX_FRAME_BYTES)
    return TBinaryProtocolAccelerated(
        framed,
        fallback=False,
        string_length_limit=MAX_STRING_BYTES,
        container_length_limit=MAX_CONTAINER_ITEMS,
    )
