"""The interop test service, served by the thrift package's own server classes.

``python -m tests.interop_server --server threaded --transport framed --protocol binary
[--multiplexed] --port 0`` - the way users run Apache's Python servers, in each of the
configurations the gateway must front: TSimpleServer or TThreadedServer, framed or
buffered transport (or THeader, which reads every client type), binary, compact or JSON
protocol, and a TMultiplexedProcessor serving Interop and SecondService side by side.
Prints ``interop listening on HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from thrift.Thrift import TApplicationException
from thrift.TMultiplexedProcessor import TMultiplexedProcessor

from tests.gen.interop import Interop, SecondService
from tests.gen.interop.ttypes import Insanity, Numberz, Xception, Xception2, Xtruct
from tests.thrift_servers import serve


class InteropHandler:
    """Answers as the cross-language test handlers do: mostly with what it was given."""

    def __init__(self) -> None:
        self._last_oneway = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # testString, testBool, testByte, ... testKeySet, testUnion, testDefaults: echo.
        if name.startswith("test"):
            return lambda thing: thing
        raise AttributeError(name)

    def testVoid(self) -> None:  # noqa: N802 - the IDL's names
        return None

    def testMapMap(self, hello: int) -> dict[int, dict[int, int]]:  # noqa: N802
        return {hello: {i: i for i in range(1, 3)}, -hello: {-1: -1}}

    def testInsanity(self, argument: Insanity) -> dict[int, dict[int, Insanity]]:  # noqa: N802
        return {1: {Numberz.TWO: argument, Numberz.THREE: argument}, 2: {Numberz.SIX: Insanity()}}

    def testMulti(self, arg0: int, arg1: int, arg2: int, arg3: Any, arg4: int, arg5: int, arg6: str) -> Xtruct:  # noqa: N802
        return Xtruct(string_thing=f"Hello2 {arg5} {arg6}", byte_thing=arg0, i32_thing=arg1, i64_thing=arg2)

    def testOptional(self, thing: str, count: int | None) -> str:  # noqa: N802
        return f"{thing} {count}"

    def testException(self, arg: str) -> None:  # noqa: N802
        if arg == "Xception":
            raise Xception(errorCode=1001, message=arg)
        if arg == "TException":
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, "This is a TException")

    def testMultiException(self, arg0: str, arg1: str) -> Xtruct:  # noqa: N802
        if arg0 == "Xception":
            raise Xception(errorCode=1001, message="This is an Xception")
        if arg0 == "Xception2":
            raise Xception2(errorCode=2002, struct_thing=Xtruct(string_thing="This is an Xception2"))
        return Xtruct(string_thing=arg1)

    def testOneway(self, value: int) -> None:  # noqa: N802
        with self._lock:
            self._last_oneway = value

    def lastOneway(self) -> int:  # noqa: N802
        with self._lock:
            return self._last_oneway

    def baseEcho(self, value: int) -> int:  # noqa: N802
        return value


class SecondHandler:
    def secondtestString(self, thing: str) -> str:  # noqa: N802
        return f'testString("{thing}")'


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.interop_server")
    p.add_argument("--server", choices=("simple", "threaded"), default="threaded")
    p.add_argument("--transport", choices=("framed", "buffered", "header"), default="framed")
    p.add_argument("--protocol", choices=("binary", "compact", "json"), default="binary")
    p.add_argument("--multiplexed", action="store_true", help="Interop and SecondService on one TMultiplexedProcessor")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    processor: Any = Interop.Processor(InteropHandler())
    if args.multiplexed:
        processor = TMultiplexedProcessor()
        processor.registerProcessor("Interop", Interop.Processor(InteropHandler()))
        processor.registerProcessor("SecondService", SecondService.Processor(SecondHandler()))
    return serve("interop", processor, host=args.host, port=args.port, server=args.server,
                 transport=args.transport, protocol=args.protocol)

if __name__ == "__main__":
    sys.exit(main())
