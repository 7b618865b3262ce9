"""Fixtures of the core's tests. `json_log`: the project's LOGGING with the JSON formatter
(production's default), its one handler pointed at a buffer, so what a test reads is exactly
what the handler would have written to stderr."""

from __future__ import annotations

import copy
import io
import logging
import logging.config

import pytest
from django.conf import settings

from .support.logs import JsonLog, console_handler


@pytest.fixture
def json_log():
    # the configured handler itself, with production's formatter, writing into a buffer
    # (swapped back afterwards: no reconfiguration, pytest's own handlers stay in place)
    handler = console_handler()
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    formatter = configurator.configure_formatter(configurator.config["formatters"]["json"])
    stream, saved = io.StringIO(), (handler.formatter, handler.stream)
    handler.setFormatter(formatter)
    handler.setStream(stream)
    yield JsonLog(stream)
    handler.setFormatter(saved[0])
    handler.setStream(saved[1])
