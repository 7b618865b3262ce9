# Sourced by run.sh and test.sh (from the repo root): make .venv exist and match requirements.txt.
# The install runs only when requirements.txt changed since the last successful one, so the
# everyday run/test commands stay fast and work offline.

if [[ ! -x .venv/bin/python ]]; then
    echo "Creating .venv with $(python3 --version)" >&2
    python3 -m venv .venv
fi

_wanted_sha="$(sha256sum requirements.txt | cut -d' ' -f1)"
_stamp=.venv/.requirements.sha256
if [[ "$(cat "$_stamp" 2>/dev/null || true)" != "$_wanted_sha" ]]; then
    echo "Installing requirements.txt into .venv" >&2
    .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
    # Written only after pip succeeded, so a failed install is retried next time.
    echo "$_wanted_sha" > "$_stamp"
fi
unset _wanted_sha _stamp
