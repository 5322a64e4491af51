"""Realistic gateway traffic for `make load`: calculator and cache calls, answers checked.

Each simulated user keeps its own keys, so every read can be checked against what that
user wrote; a wrong answer counts as a failure, not only a wrong status code.
"""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, between, task

OPS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
}


class GatewayUser(FastHttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        self.prefix = f"load-{uuid.uuid4().hex[:12]}"
        self.written: dict[str, object] = {}

    @task(4)
    def add(self) -> None:
        a, b = random.randint(-10**9, 10**9), random.randint(-10**9, 10**9)
        with self.client.get(f"/add/{a}/{b}", name="/add/[a]/[b]", catch_response=True) as r:
            self._expect(r, 200, lambda body: body == {"result": a + b})

    @task(3)
    def calc(self) -> None:
        op = random.choice(list(OPS))
        a, b = random.randint(-10**6, 10**6), random.randint(-10**6, 10**6)
        with self.client.post("/calc", json={"op": op, "a": a, "b": b}, catch_response=True) as r:
            self._expect(r, 200, lambda body: body["result"] == OPS[op](a, b))

    @task(1)
    def divide_by_zero(self) -> None:
        with self.client.get("/calc/divide/1/0", name="/calc/divide/[a]/0", catch_response=True) as r:
            self._expect(r, 400, lambda body: body["code"] == "division_by_zero")

    @task(3)
    def cache_put(self) -> None:
        key = f"{self.prefix}-{random.randint(0, 49)}"
        value = {"n": random.randint(0, 10**6), "tag": uuid.uuid4().hex}
        with self.client.put(f"/cache/{key}", json={"value": value, "ttl": 600}, name="/cache/[key] PUT",
                             catch_response=True) as r:
            if self._expect(r, 200, lambda body: body == {"key": key, "stored": True}):
                self.written[key] = value

    @task(5)
    def cache_get(self) -> None:
        if not self.written:
            return
        key = random.choice(list(self.written))
        expected = self.written[key]
        # 404 is a valid answer too: the cache may have evicted the key under memory pressure.
        with self.client.get(f"/cache/{key}", name="/cache/[key] GET", catch_response=True) as r:
            if r.status_code == 404:
                r.success()
                self.written.pop(key, None)
            else:
                self._expect(r, 200, lambda body: body == {"key": key, "value": expected})

    def _expect(self, r, status: int, check) -> bool:
        try:
            ok = r.status_code == status and check(r.json())
        except Exception as err:  # a body that is not the JSON we expect
            r.failure(f"{r.status_code}: unreadable answer ({err})")
            return False
        if ok:
            r.success()
        else:
            r.failure(f"{r.status_code}: unexpected answer {r.text[:200]}")
        return ok
