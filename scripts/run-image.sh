#!/usr/bin/env bash
# Run the portable image as the README says:
#   docker run --rm -it --privileged -p 127.0.0.1:8888:8888 \
#     -v cloud-workbook-work:/workbook/work -v cloud-workbook-docker:/var/lib/docker cloud-workbook
# Where the host refuses --privileged (a host whose capability bounding set lacks one, as some
# VMs and CI runners), it runs the same container with the equivalent rights, spelled out:
# every capability the host has, no seccomp/AppArmor confinement, every device, the host's
# cgroup tree (the inner engine's runc makes its cgroups there).
# Environment: WORKBOOK_IMAGE_NAME (a container name; default cloud-workbook), WORKBOOK_PORT
# (host port, default 8888), WORKBOOK_VOLUME_PREFIX (default cloud-workbook), WORKBOOK_DETACH=1
# (run in the background), WORKBOOK_IMAGE_TAG (default latest).
set -euo pipefail
NAME=${WORKBOOK_IMAGE_NAME:-cloud-workbook}
PORT=${WORKBOOK_PORT:-8888}
PREFIX=${WORKBOOK_VOLUME_PREFIX:-cloud-workbook}
TAG=${WORKBOOK_IMAGE_TAG:-latest}
common=(--rm --name "$NAME" -p "127.0.0.1:$PORT:8888"
        -v "$PREFIX-work:/workbook/work" -v "$PREFIX-docker:/var/lib/docker")
if [ "${WORKBOOK_DETACH:-0}" = 1 ]; then common+=(-d); else common+=(-it); fi
common+=("$@")

equivalent=(--cap-add ALL --cap-drop SYS_RESOURCE
            --security-opt seccomp=unconfined --security-opt apparmor=unconfined
            --security-opt systempaths=unconfined
            --device-cgroup-rule 'a *:* rwm' --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw)
[ -e /dev/kvm ] && equivalent+=(--device /dev/kvm)
[ -e /dev/net/tun ] && equivalent+=(--device /dev/net/tun)

# --privileged first: what Docker Desktop and ordinary Linux hosts accept (probed with `true`, in a
# container removed with its anonymous volumes: `run --rm` keeps them when the start is refused).
probe=$(docker create --privileged --entrypoint true "cloud-workbook:$TAG")
out=$(docker start -a "$probe" 2>&1) && ok=1 || ok=0
docker rm -f -v "$probe" >/dev/null 2>&1 || true
if [ $ok = 1 ]; then
  exec docker run --privileged "${common[@]}" "cloud-workbook:$TAG"
fi
case "$out" in
  *"operation not permitted"*|*"unable to apply caps"*) ;;
  *) echo "[run-image] $out" >&2; exit 1 ;;
esac
why=$(echo "$out" | grep -m1 -o 'unable to apply caps[^:]*: [^:]*' || echo "$out" | head -1 | cut -c1-120)
echo "[run-image] This host refuses --privileged ($why);" >&2
echo "[run-image] running with the equivalent rights instead: ${equivalent[*]}" >&2
exec docker run "${equivalent[@]}" "${common[@]}" "cloud-workbook:$TAG"
