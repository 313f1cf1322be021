#!/usr/bin/env bash
# Regenerate tests/data/golden/ (checkpoints, *.golden, the generated part of its README):
# creates the pinned venv (tools/.venv) from tools/requirements.txt when it is missing, then runs
# tools/make_golden.py, which fails loudly if any cross-check against the official packages fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ ! -x "$here/.venv/bin/python" ]]; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/make_golden.py" "$@"
