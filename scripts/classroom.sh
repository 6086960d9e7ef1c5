#!/usr/bin/env bash
# The classroom server (make classroom; docs/classroom.md): JupyterHub on this machine, one
# container of the portable image per student. Idempotent: it installs what is missing
# (configurable-http-proxy from npm, the image), then runs the hub in the foreground.
#   scripts/classroom.sh          run the hub (Ctrl-C stops it and every student's container)
#   scripts/classroom.sh stop     stop a running hub and the students' containers (volumes stay)
#   scripts/classroom.sh status   the students, their servers and their exercises (the instructor's view)
# Settings are environment variables, read by classroom/jupyterhub_config.py (see its head):
# WORKBOOK_CLASS_PORT (8000), WORKBOOK_CLASS_LIST, WORKBOOK_CLASS_ADMIN, WORKBOOK_CLASS_STATE...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${WORKBOOK_VENV:-$ROOT/.venv}
export WORKBOOK_CLASS_STATE=${WORKBOOK_CLASS_STATE:-$ROOT/.workbook/classroom}
export WORKBOOK_CLASS_PREFIX=${WORKBOOK_CLASS_PREFIX:-cloud-workbook-class}
IMAGE=${WORKBOOK_CLASS_IMAGE:-cloud-workbook:latest}
say() { printf '\033[1m[classroom]\033[0m %s\n' "$*"; }
die() { printf '\033[1m[classroom]\033[0m %s\n' "$*" >&2; exit 1; }

containers() { docker ps -aq --filter "label=org.cloud-workbook.classroom=$WORKBOOK_CLASS_PREFIX"; }

stop_class() {
  local pid
  pid=$(cat "$WORKBOOK_CLASS_STATE/jupyterhub.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "stopping the hub (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  local ids
  ids=$(containers)
  if [ -n "$ids" ]; then
    say "stopping the students' containers (their volumes stay): $(echo "$ids" | wc -l)"
    # shellcheck disable=SC2086
    docker stop -t 30 $ids >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
  docker network rm "$WORKBOOK_CLASS_PREFIX-net" >/dev/null 2>&1 || true
}

case "${1:-run}" in
  stop) stop_class; say "stopped"; exit 0 ;;
  status) exec "$VENV/bin/python" "$ROOT/classroom/instructor.py" ;;
  run) ;;
  *) die "unknown command ${1}: use run, stop or status" ;;
esac

# 1. What the hub needs: its Python packages (make setup installs the classroom extra), the proxy
#    (Node, from npm), the students' image.
[ -x "$VENV/bin/jupyterhub" ] || die "JupyterHub is not installed in $VENV: run make setup first."
if ! command -v configurable-http-proxy >/dev/null; then
  command -v npm >/dev/null || { say "installing nodejs and npm (Debian)"; apt-get install -y -qq nodejs npm >/dev/null; }
  say "installing configurable-http-proxy (npm)"
  npm install -g --no-fund --no-audit configurable-http-proxy@5 >/dev/null
fi
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "the students' image $IMAGE is not here: building it (make image)"
  "$ROOT/scripts/image.sh"
fi
docker run --rm --entrypoint jupyterhub-singleuser "$IMAGE" --version >/dev/null 2>&1 \
  || die "the image $IMAGE has no jupyterhub-singleuser: rebuild it with make image."

# 2. The hub, in the foreground; its state (database, secrets, passwords) in a folder of root's only.
mkdir -p "$WORKBOOK_CLASS_STATE" && chmod 700 "$WORKBOOK_CLASS_STATE"
say "JupyterHub at http://${WORKBOOK_CLASS_IP:-127.0.0.1}:${WORKBOOK_CLASS_PORT:-8000}/ (Ctrl-C stops it)"
cd "$WORKBOOK_CLASS_STATE"
# Not a workbook session of its own: a kernel's clean-up must never take the hub for a dead session's process.
env -u WORKBOOK_SESSION PATH="$VENV/bin:$PATH" "$VENV/bin/jupyterhub" -f "$ROOT/classroom/jupyterhub_config.py" &
HUB=$!
finish() {
  trap '' INT TERM
  kill -TERM "$HUB" 2>/dev/null || true
  wait "$HUB" 2>/dev/null || true
  stop_class
  say "the hub has stopped; the students' volumes stay (docker volume ls)"
}
trap 'finish; exit 0' INT TERM
rc=0
wait "$HUB" || rc=$?
finish
exit "$rc"
