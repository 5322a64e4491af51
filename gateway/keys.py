"""``python -m gateway.keys add NAME PERMISSION... [--file PATH]``: make an API key.

The key is random (256 bits), printed once and never stored: the keys file keeps only
its SHA-256, so the file is no secret and a leaked copy lets no one in. Rotate a key by
adding a second line for the same client, moving the client to the new key, then
deleting the old line (the gateway reads the file at start-up: restart or reload it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from gateway.security.auth import key_line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gateway.keys", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="make a key for a client, print it once, append its line to the file")
    add.add_argument("name", help="the client's name (its rate-limit key, and what logs call it)")
    add.add_argument("permissions", nargs="+", help="globs over service.method (calculator.*, cache.get), "
                     "metrics, or *")
    add.add_argument("--file", type=Path, default=Path(os.environ.get("GATEWAY_API_KEYS_FILE", "api-keys.txt")),
                     help="the keys file (default: $GATEWAY_API_KEYS_FILE, else api-keys.txt)")
    args = p.parse_args(argv)
    if any(c.isspace() for c in args.name) or args.name.startswith("#"):
        p.error("the name may not contain whitespace or start with #")
    if not args.name.isprintable():
        # Bytes that are not UTF-8 reach argv as surrogate escapes: the name would not
        # encode into the (UTF-8) keys file, logs or a rate-limit store.
        p.error("the name must be printable UTF-8 text")
    key = secrets.token_urlsafe(32)
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(key_line(args.name, key, args.permissions) + "\n")
    print(key)
    print(f"added {args.name} to {args.file}; the key is shown only now", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
