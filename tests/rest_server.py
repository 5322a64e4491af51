"""The REST test service (tests/idl/rest.thrift), served by the thrift package's own
TThreadedServer (framed, binary; ``--transport header`` for THeader), with code Apache's
compiler generated.

``python -m tests.rest_server --port 0`` prints ``rest listening on HOST:PORT`` once it
accepts connections, then one line per call it serves: ``call <method> <repr of each
argument>`` - what it received, exactly, for the tests to compare - and, over THeader,
``headers {json}`` with the call's headers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tests.gen.rest import Users
from tests.gen.rest.ttypes import Conflict, Counter, Refused, Role, User, UserNotFound
from tests.thrift_servers import serve

MISSING_ID = 404  # the user id getUser and deleteUser do not find
I64_MAX = 2 ** 63 - 1


def _log(method: str, *args: Any) -> None:
    print("call", method, *(repr(a) for a in args), flush=True)


class UsersHandler:
    def getUser(self, req: Any) -> User:  # noqa: N802 - the IDL's names
        _log("getUser", req)
        if req.id == MISSING_ID:
            raise UserNotFound(id=req.id)
        return User(id=req.id, name="ada", role=Role.ADMIN, tags=["x"], etag=f"v{req.id}", secret="hidden",
                    big_id=9007199254740993)

    def getMe(self) -> User:  # noqa: N802
        _log("getMe")
        return User(id=1, name="me", role=Role.READER, tags=[])

    def createUser(self, req: Any) -> User:  # noqa: N802
        _log("createUser", req)
        if req.name == "taken":
            raise Conflict(reason="name taken")
        if req.name == "refused":
            raise Refused(reason="no")
        return User(id=7, name=req.name, role=req.role, tags=req.tags or [], status=201, etag="new",
                    big_id=req.big_id)

    def deleteUser(self, id: int) -> None:  # noqa: N802, A002
        _log("deleteUser", id)
        if id == MISSING_ID:
            raise UserNotFound(id=id)

    def listUsers(self, limit: int, active: Any, role: Any, shards: Any) -> list[User]:  # noqa: N802
        _log("listUsers", limit, active, role, sorted(shards) if shards is not None else None)
        return [User(id=i, name=f"u{i}", role=Role.READER, tags=[]) for i in range(min(limit, 2))]

    def renameUser(self, id: int, name: str) -> int:  # noqa: N802, A002
        _log("renameUser", id, name)
        return 2 ** 62 + id if id < 2 ** 62 else id  # never past the i64 range: the encoder would fail

    def bump(self, by: int, plain: int) -> Counter:
        _log("bump", by, plain)
        return Counter(value=min(by + 1, I64_MAX), plain=min(plain + 1, I64_MAX))

    def notify(self, message: str) -> None:
        _log("notify", message)

    def lookup(self, path: str) -> str:
        _log("lookup", path)
        return path

    def plain(self, text: str) -> str:
        _log("plain", text)
        return text

    def slow(self, ms: int) -> str:
        _log("slow", ms)
        time.sleep(ms / 1000)  # a thread of TThreadedServer's: only this call waits
        return f"slept {ms} ms"


class RecordingProcessor(Users.Processor):  # type: ignore[misc]
    """Logs the THeader headers of each call it served: ``headers {json}``."""

    def process(self, iprot: Any, oprot: Any) -> Any:
        done = super().process(iprot, oprot)
        read = getattr(iprot.trans, "get_headers", None)  # THeader keeps the last frame's
        if read is not None:
            headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                       for k, v in read().items()}
            print("headers", json.dumps(headers, sort_keys=True), flush=True)
        return done


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.rest_server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--transport", choices=("framed", "buffered", "header"), default="framed")
    args = p.parse_args()
    return serve("rest", RecordingProcessor(UsersHandler()), host=args.host, port=args.port, transport=args.transport)


if __name__ == "__main__":
    sys.exit(main())
