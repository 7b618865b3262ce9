"""Helpers for tests of management commands (the support commands' prompts read stdin)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command


class Terminal(io.StringIO):
    """Standard input as a person at a terminal typing its text."""

    def isatty(self) -> bool:
        return True


def run_command(*args, **options) -> tuple[str, str]:
    """Run a command; standard input is an empty pipe unless the test gives one.
    Returns (stdout, stderr)."""
    options.setdefault("stdin", io.StringIO(""))
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, no_color=True, **options)
    return out.getvalue(), err.getvalue()


def command_fails(*args, **options) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run_command(*args, **options)
    return caught.value
