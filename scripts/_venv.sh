# Sourced by run.sh and test.sh (from the repo root): make .venv exist and match requirements.txt.
# The install runs only when requirements.txt changed since the last successful one, so the
# everyday run/test commands stay fast and work offline. PYTHON picks the interpreter
# (default python3); it must be 3.11 or newer, with its venv module.

if [[ ! -x .venv/bin/python ]]; then
    _python="${PYTHON:-python3}"
    if ! command -v "$_python" >/dev/null 2>&1; then
        echo "EvPower needs Python 3.11 or newer: '$_python' was not found (set PYTHON=...)" >&2
        exit 1
    fi
    if ! "$_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "EvPower needs Python 3.11 or newer; $_python is $("$_python" --version 2>&1)." \
            "Install a newer one and run again with PYTHON=python3.12 (say)." >&2
        exit 1
    fi
    echo "Creating .venv with $("$_python" --version)" >&2
    if ! "$_python" -m venv .venv; then
        rm -rf .venv
        echo "Could not create a virtualenv: install Python's venv module (Debian and Ubuntu:" \
            "apt-get install python3-venv) and run again." >&2
        exit 1
    fi
    unset _python
fi

_wanted_sha="$(sha256sum requirements.txt 2>/dev/null || shasum -a 256 requirements.txt)"
_wanted_sha="${_wanted_sha%% *}"
_stamp=.venv/.requirements.sha256
if [[ "$(cat "$_stamp" 2>/dev/null || true)" != "$_wanted_sha" ]]; then
    echo "Installing requirements.txt into .venv (the first time needs the package index)" >&2
    .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
    # Written only after pip succeeded, so a failed install is retried next time.
    echo "$_wanted_sha" > "$_stamp"
fi
unset _wanted_sha _stamp
