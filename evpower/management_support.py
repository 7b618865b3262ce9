"""What the support management commands share (`session_stop`, `session_refund`,
`client_block`, `wallet_adjust`, `payment_recheck`, `reconcile_day`, `station_reset`,
`station_unlock`).

A support command is an edge like an admin action: it parses, shows what it is about to do,
asks, calls ONE service and prints the result. `SupportCommand` gives each of them:

- `--yes`: skip the confirmation prompt. Without it, a change is confirmed by typing "yes"
  (or "y") at a terminal; anything else, end of input, or a standard input that is not a
  terminal (cron, a pipe, CI) refuses, and nothing is changed;
- `--dry-run` (where `supports_dry_run`): show what would happen and change nothing;
- `--help` with a description and examples (`examples`);
- one error style: service errors (`ApiError`s: InsufficientBalance, StopFailed, ...) are
  reported with their stable code and details, unknown ids as NOT_FOUND, and the command
  exits with one of the `Exit` codes below;
- `progress(...)`: a tqdm progress bar on stderr for long work (shown on a terminal only).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from tqdm import tqdm

from evpower.api.errors import ApiError

T = TypeVar("T")


class Exit:
    """Exit codes of the support commands (shown in every command's --help)."""

    OK = 0
    FAILED = 1  # the service refused (its code is printed) or the charger did not accept
    USAGE = 2  # bad arguments (argparse's own code)
    NOT_FOUND = 3  # unknown session / client / payment / station / staff user
    ABORTED = 4  # not confirmed: nothing was changed
    UNAVAILABLE = 5  # the charger or the payment provider could not be reached in time


# codes of service errors that mean "could not reach it", not "it said no"
UNAVAILABLE_CODES = {
    "STATION_OFFLINE",
    "STATION_TIMEOUT",
    "STATION_UNREACHABLE",
    "PAYMENT_PROVIDER_ERROR",
}

EXIT_HELP = """exit codes:
  0  done (or a dry run)
  1  refused by the service or the charger (the error code is printed)
  2  bad arguments
  3  not found (session, client, payment, station, staff user)
  4  not confirmed: nothing was changed
  5  the charger or the payment provider could not be reached"""


class SupportError(CommandError):
    """A support command's failure: printed as `CODE: message`, exits with `returncode`."""

    def __init__(self, message: str, *, code: str = "ERROR", returncode: int = Exit.FAILED):
        self.code = code
        super().__init__(f"{code}: {message}", returncode=returncode)


def not_found(what: str) -> SupportError:
    return SupportError(f"no {what}", code="NOT_FOUND", returncode=Exit.NOT_FOUND)


def from_api_error(exc: ApiError) -> SupportError:
    details = ", ".join(f"{key}={value}" for key, value in exc.details.items())
    returncode = (
        Exit.NOT_FOUND
        if exc.code == "NOT_FOUND"
        else Exit.UNAVAILABLE
        if exc.code in UNAVAILABLE_CODES
        else Exit.FAILED
    )
    return SupportError(details or (exc.message or "refused"), code=exc.code, returncode=returncode)


class SupportHelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, and the description and examples kept as written."""


class SupportCommand(BaseCommand):
    """Base of the support commands. Subclasses set `help` and `examples`, write
    `add_arguments` and `handle` as usual, and call `self.confirm(...)` before a change."""

    examples: tuple[str, ...] = ()
    asks_confirmation = True  # False: a command that changes nothing that needs asking
    supports_dry_run = False
    stealth_options = ("stdin",)  # call_command(..., stdin=...) in tests

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", SupportHelpFormatter)
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        prog = f"{os.path.basename(prog_name)} {subcommand}"
        examples = "\n".join(f"  {prog} {example}".rstrip() for example in self.examples)
        parser.epilog = (f"examples:\n{examples}\n\n" if examples else "") + EXIT_HELP
        if self.asks_confirmation:
            parser.add_argument(
                "--yes", "-y", action="store_true", help="do it without asking for confirmation"
            )
        if self.supports_dry_run:
            parser.add_argument(
                "--dry-run", action="store_true", help="show what would be done, change nothing"
            )
        return parser

    def execute(self, *args, **options):
        self.stdin = options.get("stdin") or sys.stdin
        self.assume_yes = bool(options.get("yes"))
        self.dry_run = bool(options.get("dry_run"))
        try:
            return super().execute(*args, **options)
        except ApiError as exc:
            raise from_api_error(exc) from exc

    # -- helpers for handle() ------------------------------------------------------------

    def confirm(self, question: str) -> None:
        """Go on only on "yes"/"y" typed at a terminal, or with --yes; SupportError
        (Exit.ABORTED) otherwise."""
        if self.assume_yes:
            return
        isatty = getattr(self.stdin, "isatty", None)
        if not (isatty and isatty()):
            raise SupportError(
                "not confirmed: standard input is not a terminal; run it "
                "again with --yes to go ahead",
                code="ABORTED",
                returncode=Exit.ABORTED,
            )
        self.stdout.write(f"{question} [yes/no] ", ending="")
        self.stdout.flush()
        answer = self.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            raise SupportError(
                "not confirmed: nothing was changed", code="ABORTED", returncode=Exit.ABORTED
            )

    def say(self, text: str = "") -> None:
        self._write(self.stdout, text)

    def done(self, text: str) -> None:
        self._write(self.stdout, self.style.SUCCESS(text))

    def warn(self, text: str) -> None:
        """A problem that does not end the command (one item of many failed, say)."""
        self._write(self.stderr, text)

    def dry_run_note(self) -> None:
        self._write(self.stdout, self.style.WARNING("dry run: nothing was changed"))

    @staticmethod
    def _write(stream, text: str) -> None:
        # a progress bar on the same terminal is cleared, then drawn again below the line
        with tqdm.external_write_mode(file=getattr(stream, "_out", None)):
            stream.write(text)

    def progress(
        self, items: Iterable[T], *, total: int | None = None, desc: str = ""
    ) -> Iterator[T]:
        """A progress bar on stderr, shown only when stderr is a terminal."""
        out = getattr(self.stderr, "_out", sys.stderr)
        isatty = getattr(out, "isatty", None)
        return iter(
            tqdm(
                items,
                total=total,
                desc=desc,
                file=out,
                unit="item",
                disable=not (isatty and isatty()),
                leave=False,
            )
        )


# -- lookups shared by several commands (the apps' own: accounts/management/support.py,
#    payments/management/support.py) ------------------------------------------------


def support_actor() -> str:
    """Who is asking, for `requested_by` fields: "support:<OS user>"."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"support:{user}"[:150]


def staff_user_named(username: str):
    """The active staff user `username` (the author of a money correction)."""
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        raise not_found(f"staff user {username!r}")
    if not (user.is_active and user.is_staff):
        raise SupportError(f"{username!r} is not an active staff user", code="NOT_STAFF")
    return user


# -- commands to chargers (station_reset, station_unlock) --------------------------------


def charger_exit_code(status: str) -> int:
    """A `CommandResult.status` (stations.charger_port.CommandStatus) as an exit code."""
    # offline, busy, timeout and unreachable: the charger could not be reached
    return {
        "accepted": Exit.OK,
        "rejected": Exit.FAILED,
        "call_error": Exit.FAILED,
        "invalid": Exit.USAGE,
    }.get(status, Exit.UNAVAILABLE)


def charger_answer(result) -> str:
    """One line for a `CommandResult`: what the charger answered."""
    text = f"charger answer: {result.status}"
    if result.response is not None:
        text += f" {result.response}"
    if result.error_code or result.error_description:
        text += f" ({' '.join(filter(None, [result.error_code, result.error_description]))})"
    if result.duration_ms is not None:
        text += f" in {result.duration_ms} ms"
    return text + f" [command {result.command_id}]"
