"""The length limits every Thrift connection in the product applies, in both directions.

Apache's Python library has none by default (its threat model says so): a peer that
announces a 2 GiB frame or string would make us allocate it.
"""

from __future__ import annotations

try:
    # Without the C extension the protocols silently fall back to pure Python, several
    # times slower; refuse to start instead of running slow without anyone noticing.
    from thrift.protocol import fastbinary  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the installed wheel
    raise ImportError(
        "thrift.protocol.fastbinary (the C extension of the thrift package) is missing; "
        "reinstall thrift from the pinned wheel: make install"
    ) from err

# The largest message is a cache value (1 MiB) plus its key and framing; 4 MiB leaves room
# without letting a peer that announces a huge frame make us allocate it. An unframed
# message may not grow past it either.
MAX_FRAME_BYTES = 4 * 1024 * 1024
# A string or binary field never exceeds a cache value; containers are tiny in our IDL.
MAX_STRING_BYTES = 2 * 1024 * 1024
MAX_CONTAINER_ITEMS = 65536
# A method name longer than this is not a method name.
MAX_NAME_BYTES = 1024
