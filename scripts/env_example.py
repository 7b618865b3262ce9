"""Print .env.example from the settings' own source: every environment variable the
platform reads (evpower/settings.py, evpower/serve.py), under the settings' section
headers, each with its default, commented out (a copy as .env changes nothing). The test
suite checks the committed file is exactly this output:

    .venv/bin/python scripts/env_example.py > .env.example
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "evpower" / "settings.py"
SERVE = ROOT / "evpower" / "serve.py"
ENV_READERS = {"str", "int", "bool", "float", "list", "url", "db", "db_url", "json", "dict", "path"}
SECTION = re.compile(r"^# === (.+?) =+$")
# ALERT_ROUTE_<SEVERITY> and its default (a loop in settings.py)
ALERT_ROUTES = (
    ("CRITICAL", "email,telegram,webhook"),
    ("HIGH", "email,telegram,webhook"),
    ("MEDIUM", "email,telegram,webhook"),
    ("LOW", ""),
)


def _default(call: ast.Call, source: str) -> str:
    for keyword in call.keywords:
        if keyword.arg == "default":
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                return f"(computed: {ast.get_source_segment(source, keyword.value)})"
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, list | tuple):
                return ",".join(str(v) for v in value)
            return str(value)
    return "(required)" if len(call.args) < 2 else ast.get_source_segment(source, call.args[1])


def _names(call: ast.Call, source: str) -> list[tuple[str, str]]:
    """(name, default) of what the call reads."""
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return [(first.value, _default(call, source))]
    if isinstance(first, ast.JoinedStr):  # f"ALERT_ROUTE_{severity.upper()}"
        prefix = "".join(v.value for v in first.values if isinstance(v, ast.Constant))
        if prefix == "ALERT_ROUTE_":
            return [(prefix + severity, default) for severity, default in ALERT_ROUTES]
        raise ValueError(f"an environment variable named by an f-string: {prefix}...")
    return []


def settings_variables() -> list[tuple[str, str, str]]:
    """(section, name, default) in the order settings.py reads them."""
    source = SETTINGS.read_text()
    sections = {}
    current = "General"
    for number, line in enumerate(source.splitlines(), start=1):
        match = SECTION.match(line)
        if match:
            current = match.group(1)
        sections[number] = current
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr in ENV_READERS
        ):
            for order, (name, default) in enumerate(_names(node, source)):
                found.append((node.lineno, order, sections[node.lineno], name, default))
    serve = SERVE.read_text()
    for node in ast.walk(ast.parse(serve)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and ast.get_source_segment(serve, node.func.value) == "os.environ"
        ):
            name = node.args[0].value
            found.append(
                (10**6 + node.lineno, 0, "Serving (evpower/serve.py)", name, node.args[1].value)
            )
    seen, out = set(), []
    for _, _, section, name, default in sorted(found):
        if name not in seen:
            seen.add(name)
            out.append((section, name, default))
    return out


def render() -> str:
    lines = [
        "# Every environment variable EvPower reads, with its default (generated from",
        "# evpower/settings.py by scripts/env_example.py; the test suite keeps them in step).",
        "# Production (EVPOWER_ENV=production) refuses to start without the ones it needs:",
        "# SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS, the SMS gateway ... (README, Configuration).",
        "# Uncomment and set what you change; .env in the project folder is read at start.",
    ]
    section = None
    for current, name, default in settings_variables():
        if current != section:
            lines += ["", f"# --- {current} ---"]
            section = current
        lines.append(f"# {name}={default}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
