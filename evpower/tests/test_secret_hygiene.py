"""Secret hygiene over the source tree (docs/product.md §6): every comparison of a secret is
constant-time, and no private key or live-looking secret is committed."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# names that hold something a caller must not learn byte by byte from response timing
SECRET_NAME = re.compile(
    r"(secret|signature|sign_string|password|passwd|token|api_key|hmac|"
    r"digest|code_hash|credential)",
    re.IGNORECASE,
)


def _tracked_python_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name
        for name in out
        if "/tests/" not in name and "/migrations/" not in name and not name.startswith("bench/")
    ]


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    if isinstance(node, ast.Call):
        return _name_of(node.func)
    return ""


def _is_plain_literal(node: ast.AST) -> bool:
    # `token == ""`, `kind == "Bearer"` and `x is None` compare with no secret
    return isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and node.id.isupper())


def plain_secret_comparisons(source: str) -> list[int]:
    """Line numbers where a secret-named value is compared with == or !=."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if _is_plain_literal(left) or _is_plain_literal(right):
                continue
            if SECRET_NAME.search(_name_of(left)) or SECRET_NAME.search(_name_of(right)):
                lines.append(node.lineno)
    return lines


def test_the_check_finds_a_timing_leak():
    leaky = "def ok(request, expected):\n    return request.headers['signature'] == expected\n"
    safe = (
        "import hmac\ndef ok(sig, expected):\n"
        "    return hmac.compare_digest(sig, expected) and sig != ''\n"
    )
    assert plain_secret_comparisons(leaky) == [2]
    assert plain_secret_comparisons(safe) == []


def test_secrets_are_never_compared_with_plain_equality():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _tracked_python_files()
        for line in plain_secret_comparisons(path.read_text())
    ]
    assert offenders == [], "use hmac.compare_digest: " + ", ".join(offenders)


PRIVATE_MATERIAL = re.compile(
    r"-----BEGIN (RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----|"
    r"\bAKIA[0-9A-Z]{16}\b|\bsk_live_[0-9a-zA-Z]{16,}"
)


def test_no_private_key_or_live_secret_is_committed():
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in names:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        if PRIVATE_MATERIAL.search(path.read_text(errors="ignore")):
            found.append(name)
    assert found == []


UNVERIFIED_TLS = re.compile(
    r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|"
    r"_create_unverified_context"
)


def test_no_outbound_call_can_skip_tls_verification():
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _tracked_python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNVERIFIED_TLS.search(line)
    ]
    assert found == []
