#!/usr/bin/env bash
# Refresh requirements.lock, the exact Python environment that set-up, the portable image and
# `make test` install (every package pinned, with its hashes, for every platform and Python >= 3.10).
#   scripts/lock.sh            (make lock) the newest versions pyproject.toml's ranges allow
#   scripts/lock.sh --keep     keep today's pins, only add what a changed pyproject.toml needs
# The lock is written by uv (a pinned version, in a throw-away environment, not the workbook's).
# Afterwards: make test, then commit pyproject.toml and requirements.lock together.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tools=$(mktemp -d /tmp/cloud-workbook-lock.XXXXXX)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools" && "$tools/bin/python" -m pip install -q "uv==$UV_VERSION"
upgrade=(--upgrade); [ "${1:-}" = --keep ] && upgrade=()
# uv trusts the system's certificate store (a lab's proxy in front of PyPI, say), like pip.
UV_NATIVE_TLS=1 "$tools/bin/uv" pip compile pyproject.toml --all-extras --universal --generate-hashes \
  --python-version 3.10 --no-header --quiet "${upgrade[@]}" -o requirements.lock.new
{ echo "# The workbook's Python environment, exactly: every package pinned with its hashes, for every"
  echo "# platform and Python >= 3.10. Written by scripts/lock.sh (make lock) with uv $UV_VERSION; do not edit."
  cat requirements.lock.new; } > requirements.lock && rm requirements.lock.new
echo "[lock] requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) pins. Now run make test, then commit it with pyproject.toml."
