"""A headless Chromium driven over the DevTools protocol, for the tests of the docs page
(no Selenium, no Playwright download: Debian's chromium and the websocket-client package).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

from tests.harness import wait_for


class Browser:
    """``with Browser(chromium) as page: page.go(url); page.evaluate("...")``."""

    def __init__(self, chromium: str) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="chromium-"))
        # The flags the machines here need: no network beyond loopback is reachable.
        self._process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = self._profile / "DevToolsActivePort"
            wait_for(port_file.exists, 30, "Chromium's DevTools port")
            port = port_file.read_text().split()[0]
            targets = wait_for(lambda: [t for t in self._targets(port) if t["type"] == "page"], 10, "a page target")
            # No Origin header: Chromium refuses DevTools connections from origins it was not told of.
            self._socket = websocket.create_connection(targets[0]["webSocketDebuggerUrl"],  # type: ignore[index]
                                                       timeout=30, suppress_origin=True)
        except BaseException:
            self._stop()  # a browser that never became usable is not left running
            raise
        self._ids = itertools.count(1)

    @staticmethod
    def _targets(port: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            return json.loads(answer.read())

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def go(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
            time.sleep(0.1)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
        self._stop()

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)
