"""The bare stack: the same Gunicorn, gevent and Flask, one route that calls no backend.

It is the ceiling the gateway is measured against: whatever the bare stack costs per
request, the gateway cannot do better.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/bare")
def bare() -> dict[str, int]:
    return {"result": 5}
