import gevent, socket
from gateway.app import create_app
from gateway.routes import backends
app = create_app()
@app.get("/x/yield")
def y():
    gevent.sleep(0); return {"result": 5}
@app.get("/x/pool")
def p():
    pool = next(iter(backends().calculator.pools.values()))
    return {"result": pool.call("add", (2, 3))}
@app.get("/x/conn")
def c():
    pool = next(iter(backends().calculator.pools.values()))
    conn = pool._idle.pop() if pool._idle else pool._open()
    try:
        return {"result": conn.call("add", (2, 3))}
    finally:
        pool._idle.append(conn)
