"""Start-up tests' way to import the settings as a fresh process would."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def import_settings_with(
    code: str = "import django; django.setup()", **overrides: str | None
) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter (they are evaluated once per process, at
    import) with this environment, less the test run's own choices; an override of None
    leaves that variable out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PASSWORD_HASHERS")
    }
    env.update({"DJANGO_SETTINGS_MODULE": "evpower.settings", **overrides})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
