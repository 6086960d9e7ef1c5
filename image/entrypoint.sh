#!/usr/bin/env bash
# Start of the portable image: the inner Docker engine and libvirtd, the base images, then
# JupyterLab at 00-setup-check. Under a JupyterHub (a command is given, or JUPYTERHUB_API_TOKEN
# is set, as DockerSpawner does), the same daemons start first and then the hub's command runs
# in place of JupyterLab (jupyterhub-singleuser when none is given). On SIGTERM (docker stop) or Ctrl-C: JupyterLab, the workbook's
# sessions and the daemons are stopped in that order, so that nothing is left half-done on
# the volumes.
#   /workbook/work     the student's notebooks and files (a named volume: survives docker rm
#                      and a new image; a notebook already there is never overwritten)
#   /var/lib/docker    the inner engine's storage (a named volume: images persist, overlay works)
set -euo pipefail
SRC=/opt/cloud-workbook/src
WORK=/workbook/work
PORT=${JUPYTER_PORT:-8888}
LOGDIR=/var/log/cloud-workbook
say() { printf '\033[1m[cloud-workbook]\033[0m %s\n' "$*"; }
mkdir -p "$LOGDIR" "$WORK/notebooks"

# 1. The student's copy of the notebooks: new ones are added, edited ones are kept. They come from
#    the student edition (solutions replaced by starters, made in the image by scripts/editions.py);
#    WORKBOOK_EDITION=instructor copies the notebooks with their solutions instead.
EDITION_DIR="$SRC/build/student/notebooks"
[ "${WORKBOOK_EDITION:-student}" != instructor ] || EDITION_DIR="$SRC/notebooks"
added=0
for nb in "$EDITION_DIR"/*.ipynb; do
  [ -e "$WORK/notebooks/$(basename "$nb")" ] || { cp "$nb" "$WORK/notebooks/"; added=$((added + 1)); }
done
[ $added = 0 ] || say "copied $added notebook(s) of version $(head -n 1 /etc/cloud-workbook-image) into $WORK/notebooks"

# 2. The daemons (the same script as on a host: it starts dockerd, virtlogd and libvirtd).
#    /dev/net/tun and /dev/kvm: --privileged gives every device; the fallback flags allow them.
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200 2>/dev/null || true; }
export WORKBOOK_LOGDIR=$LOGDIR
WORKBOOK_SETUP_STEPS="daemons" "$SRC/scripts/setup.sh"

# 3. The base images, once per docker volume (a docker save archive made with the image).
if ! docker image inspect debian:latest >/dev/null 2>&1 \
   && tar -tf /opt/cloud-workbook/images.tar 2>/dev/null | grep -q manifest.json; then
  say "loading the base images into the inner engine (once per volume)"
  t0=$(date +%s)
  docker load -q -i /opt/cloud-workbook/images.tar >/dev/null
  say "base images loaded in $(( $(date +%s) - t0 )) s: $(docker images --format '{{.Repository}}' | sort -u | tr '\n' ' ')"
fi

# 4. JupyterLab, or the hub's single-user server. JupyterLab listens on every interface of the
#    container (so that -p can reach it); the run command publishes it on the host's 127.0.0.1 only.
stop() {
  trap '' TERM INT
  say "stopping: the notebook server, the workbook's sessions, libvirtd, the Docker engine"
  [ -n "${LAB:-}" ] && kill -TERM "$LAB" 2>/dev/null && wait "$LAB" 2>/dev/null || true
  timeout 60 python -c "import helpers; helpers.cleanup.sweep_dead_sessions()" >/dev/null 2>&1 || true
  for pidfile in /run/libvirtd.pid /run/virtlogd.pid /var/run/docker.pid; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do pgrep -x dockerd >/dev/null || pgrep -x libvirtd >/dev/null || break; sleep 0.2; done
  say "stopped"
  exit "${1:-0}"
}
trap stop TERM INT
cd "$WORK"
if [ $# -gt 0 ] || [ -n "${JUPYTERHUB_API_TOKEN:-}" ]; then
  # The hub's command (DockerSpawner passes jupyterhub-singleuser and its options). It runs as
  # a child, not by exec, so that a docker stop still stops the daemons cleanly afterwards.
  [ $# -gt 0 ] || set -- jupyterhub-singleuser
  say "starting the hub's single-user server: $1"
  "$@" &
  LAB=$!
  rc=0
  wait "$LAB" || rc=$?
  LAB=
  stop "$rc"
fi
TOKEN=${JUPYTER_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(24))')}
say "JupyterLab: http://127.0.0.1:$PORT/lab/tree/notebooks/00-setup-check.ipynb?token=$TOKEN"
jupyter lab --ip=0.0.0.0 --port="$PORT" --no-browser --allow-root \
  --ServerApp.root_dir="$WORK" --IdentityProvider.token="$TOKEN" \
  --LabApp.default_url="/lab/tree/notebooks/00-setup-check.ipynb" ${JUPYTER_ARGS:-} \
  >"$LOGDIR/jupyterlab.log" 2>&1 &
LAB=$!
wait "$LAB" || true
stop
