"""Apache Thrift's cross-language test service (``ThriftTest.thrift``), served by the
``thrift`` package's own server classes with code Apache's compiler generated.

``python -m tests.thrifttest_server --gen-dir DIR --server threaded --transport framed
--protocol binary [--multiplexed] --port 0``: DIR holds the output of ``thrift --gen py``
for Apache's ``test/ThriftTest.thrift`` (its ``namespace py ThriftTest`` makes that the
package ``ThriftTest``). Nothing of the project's own IDL is used, so what the gateway
meets is what any user of Apache's Python library would run. The handler answers as
Apache's ``test/py/TestServer.py`` does (echoes; the fixed testMapMap and testInsanity
shapes; Xception / Xception2 / an undeclared TException on request; testOneway sleeping
a third of the seconds asked). ``--multiplexed`` serves ThriftTest and SecondService on
one TMultiplexedProcessor under those names, as Apache's ``multi*`` protocols do.
Prints ``thrifttest listening on HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from thrift.Thrift import TException
from thrift.TMultiplexedProcessor import TMultiplexedProcessor

from tests.thrift_servers import serve


class ThriftTestHandler:
    """Every method of ThriftTest, answering as Apache's Python test server does."""

    def __init__(self, ttypes: ModuleType) -> None:
        # The generated types are only importable once --gen-dir is on sys.path.
        self._t = ttypes

    def testVoid(self) -> None:  # noqa: N802 - the IDL's names
        return None

    def testString(self, thing: str) -> str:  # noqa: N802
        return thing

    def testBool(self, thing: bool) -> bool:  # noqa: N802
        return thing

    def testByte(self, thing: int) -> int:  # noqa: N802
        return thing

    def testI32(self, thing: int) -> int:  # noqa: N802
        return thing

    def testI64(self, thing: int) -> int:  # noqa: N802
        return thing

    def testDouble(self, thing: float) -> float:  # noqa: N802
        return thing

    def testBinary(self, thing: bytes) -> bytes:  # noqa: N802
        return thing

    def testStruct(self, thing: Any) -> Any:  # noqa: N802
        return thing

    def testNest(self, thing: Any) -> Any:  # noqa: N802
        return thing

    def testMap(self, thing: dict[int, int]) -> dict[int, int]:  # noqa: N802
        return thing

    def testStringMap(self, thing: dict[str, str]) -> dict[str, str]:  # noqa: N802
        return thing

    def testSet(self, thing: set[int]) -> set[int]:  # noqa: N802
        return thing

    def testList(self, thing: list[int]) -> list[int]:  # noqa: N802
        return thing

    def testEnum(self, thing: int) -> int:  # noqa: N802
        return thing

    def testTypedef(self, thing: int) -> int:  # noqa: N802
        return thing

    def testMapMap(self, hello: int) -> dict[int, dict[int, int]]:  # noqa: N802
        # Apache's answer ignores the argument: two fixed inner maps, keys -4 and 4.
        return {-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {4: 4, 3: 3, 2: 2, 1: 1}}

    def testInsanity(self, argument: Any) -> dict[int, dict[int, Any]]:  # noqa: N802
        numberz = self._t.Numberz
        return {1: {numberz.TWO: argument, numberz.THREE: argument}, 2: {numberz.SIX: self._t.Insanity()}}

    def testMulti(self, arg0: int, arg1: int, arg2: int, arg3: dict[int, str], arg4: int, arg5: int) -> Any:  # noqa: N802
        # Apache's answer uses only the first three arguments.
        return self._t.Xtruct(string_thing="Hello2", byte_thing=arg0, i32_thing=arg1, i64_thing=arg2)

    def testException(self, arg: str) -> None:  # noqa: N802
        if arg == "Xception":
            raise self._t.Xception(errorCode=1001, message=arg)
        if arg == "TException":
            # Not declared: the generated processor answers TApplicationException INTERNAL_ERROR.
            raise TException(message="This is a TException")

    def testMultiException(self, arg0: str, arg1: str) -> Any:  # noqa: N802
        if arg0 == "Xception":
            raise self._t.Xception(errorCode=1001, message="This is an Xception")
        if arg0 == "Xception2":
            raise self._t.Xception2(errorCode=2002, struct_thing=self._t.Xtruct(string_thing="This is an Xception2"))
        return self._t.Xtruct(string_thing=arg1)

    def testOneway(self, secondsToSleep: int) -> None:  # noqa: N802, N803
        time.sleep(secondsToSleep / 3)  # Apache's "be quick"
        # Oneway has no answer: this line is how a test sees that the call arrived.
        print(f"testOneway({secondsToSleep}) done", flush=True)


class SecondHandler:
    def secondtestString(self, thing: str) -> str:  # noqa: N802
        return f'testString("{thing}")'


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.thrifttest_server")
    p.add_argument("--gen-dir", required=True, type=Path,
                   help="the output folder of `thrift --gen py ThriftTest.thrift`")
    p.add_argument("--server", choices=("simple", "threaded"), default="threaded")
    p.add_argument("--transport", choices=("framed", "buffered", "header"), default="framed")
    p.add_argument("--protocol", choices=("binary", "compact", "json"), default="binary")
    p.add_argument("--multiplexed", action="store_true",
                   help="ThriftTest and SecondService on one TMultiplexedProcessor")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    # The generated processors log a handler's exceptions; let them reach our log file.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    sys.path.insert(0, str(args.gen_dir.resolve()))
    thrift_test = importlib.import_module("ThriftTest.ThriftTest")
    second_service = importlib.import_module("ThriftTest.SecondService")
    ttypes = importlib.import_module("ThriftTest.ttypes")

    processor: Any = thrift_test.Processor(ThriftTestHandler(ttypes))
    if args.multiplexed:
        processor = TMultiplexedProcessor()
        processor.registerProcessor("ThriftTest", thrift_test.Processor(ThriftTestHandler(ttypes)))
        processor.registerProcessor("SecondService", second_service.Processor(SecondHandler()))
    return serve("thrifttest", processor, host=args.host, port=args.port, server=args.server,
                 transport=args.transport, protocol=args.protocol)


if __name__ == "__main__":
    sys.exit(main())
