#!/usr/bin/env bash
# Installs the Synapse homeserver that egress/matrix/*.test.ts start, into a Python venv
# (default .data/synapse-venv; SYNAPSE_VENV overrides). Idempotent: a venv that already has the
# pinned version is left alone. Needs python3 >= 3.10 with the venv module; everything else comes
# from PyPI as wheels (Synapse ships a prebuilt Rust extension for manylinux x86_64/aarch64).
set -euo pipefail
SYNAPSE_VERSION="1.163.2"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${SYNAPSE_VENV:-$ROOT/.data/synapse-venv}"
PY="${PYTHON:-python3}"

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
  echo "synapse $SYNAPSE_VERSION already installed in $VENV"
  exit 0
fi
echo "installing matrix-synapse==$SYNAPSE_VERSION into $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "matrix-synapse==$SYNAPSE_VERSION"
"$VENV/bin/python" -c "import synapse; print('synapse', synapse.__version__, 'installed in $VENV')"
