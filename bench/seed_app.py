"""The seed design, as a baseline: a new Thrift connection for every request.

This is how the blog post this product grew from did it; run under sync Gunicorn
workers (``-k sync -w 4``) it is the design the gateway must beat.
"""

import os

from flask import Flask
from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport

from thrift_idl.gen.calculator import Calculator

HOST, PORT = os.environ.get("GATEWAY_CALCULATOR_ADDRS", "127.0.0.1:9090").split(",")[0].rsplit(":", 1)

app = Flask(__name__)


@app.get("/add/<int(signed=True):a>/<int(signed=True):b>")
def add(a: int, b: int) -> dict[str, int]:
    transport = TSocket(HOST, int(PORT))
    transport.setTimeout(5000)
    transport.open()
    try:
        # The tutorial's client: buffered transport, binary protocol (C-accelerated).
        return {"result": Calculator.Client(TBinaryProtocolAccelerated(TBufferedTransport(transport))).add(a, b)}
    finally:
        transport.close()
