"""Shared helpers of the core's tests: the JSON log as a test reads it."""

from __future__ import annotations

import io
import json
import logging


class JsonLog:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]

    def find(self, needle: str) -> dict:
        matching = [line for line in self.lines() if needle in line["message"]]
        assert matching, f"no log line with {needle!r} in:\n{self.text()}"
        return matching[-1]


def console_handler() -> logging.Handler:
    [handler] = [
        h
        for h in logging.getLogger("evpower").handlers
        if isinstance(h, logging.StreamHandler) and h.name == "console"
    ]
    return handler
