#!/usr/bin/env bash
# Create one virtual environment per peer, beside this script, and install the peer into it:
#   .venv-edda  edda-framework 0.16.* (with its SQLite driver, aiosqlite, as a dependency)
#   .venv-dbos  dbos 3.4.*
# Each peer gets its own environment so that neither its dependencies nor trioflow's meet.
# Usage: bash benchmarks/peers/setup.sh [edda|dbos ...]   (default: both)
# PYTHON picks the interpreter (default python3; both peers need Python >= 3.10).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

install() {
    local name="$1"
    shift
    local venv="$here/.venv-$name"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "$@"
    echo "$name: $("$venv/bin/python" -m pip freeze | grep -iE "^($name|edda-framework|dbos)==" || true)"
}

peers=("$@")
if [[ ${#peers[@]} -eq 0 ]]; then
    peers=(edda dbos)
fi
for peer in "${peers[@]}"; do
    case "$peer" in
        edda) install edda 'edda-framework==0.16.*' ;;
        dbos) install dbos 'dbos==3.4.*' ;;
        *) echo "unknown peer: $peer (expected edda or dbos)" >&2; exit 2 ;;
    esac
done
