"""The one socket helper both sides share (the rest of the package does no I/O)."""

from __future__ import annotations

from typing import Any


def send_all(sock: Any, data: bytes) -> None:
    """Send all of ``data``. One ``send`` nearly always takes it all; gevent's
    ``sendall`` would first ask the kernel for the send buffer size (a ``getsockopt``
    system call per message) and slice the data in Python."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
