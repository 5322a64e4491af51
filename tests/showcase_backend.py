"""The transcoder's test backend: ``python -m tests.showcase_backend --port 0``."""

from __future__ import annotations

import argparse
import sys

from backends import cli
from tests.gen.showcase import Showcase
from tests.gen.showcase.ttypes import Point, Refused


class ShowcaseHandler:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def echo(self, value):  # type: ignore[no-untyped-def]
        return value

    def move(self, p: Point, dx: int | None, dy: int | None) -> Point:
        return Point(x=p.x + (dx or 0), y=(p.y or 0) + (dy or 0), color=p.color, label=p.label)

    def reshape(self, shape):  # type: ignore[no-untyped-def]
        return shape

    def refuse(self, reason: str, level: int) -> None:
        raise Refused(reason=reason, level=level, where=Point(x=level))

    def mix(self, a: int, b: int) -> int:
        return max(a, b)

    def notify(self, message: str) -> None:
        self.messages.append(message)

    def notifications(self) -> list[str]:
        return list(self.messages)


def build(args: argparse.Namespace) -> Showcase.Processor:
    return Showcase.Processor(ShowcaseHandler())


if __name__ == "__main__":
    sys.exit(cli.main("showcase", 9200, build))
