#!/usr/bin/env bash
# Build the portable image cloud-workbook:<version> (and :latest) offline, from the workbook's
# local Debian base: no registry is used. Idempotent: an unchanged workbook rebuilds from cache.
#   scripts/image.sh            build (make image)
#   scripts/image.sh tar        also write dist/cloud-workbook-<version>.tar.gz (make image-tar)
#   scripts/image.sh arm64      cloud-workbook:<version>-arm64, for Apple Silicon and arm64 servers,
#                               built here under emulation (qemu-user-static): slow, see the README
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WORKBOOK_VENV:-.venv}
VERSION=$("$VENV/bin/python" -c 'import helpers; print(helpers.__version__)')
IMAGE=cloud-workbook
say() { printf '\033[1m[image]\033[0m %s\n' "$*"; }
t0=$(date +%s)

ARCH=amd64 TAGS=(-t "$IMAGE:$VERSION" -t "$IMAGE:latest") BASE=debian:latest
if [ "${1:-}" = arm64 ]; then
  ARCH=arm64 TAGS=(-t "$IMAGE:$VERSION-arm64") BASE=cloud-workbook-base:arm64
  # arm64 programs run here through the kernel's binfmt_misc and QEMU's user-mode emulator.
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    dpkg-query -W -f='${Status}' qemu-user-static 2>/dev/null | grep -q "install ok installed" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support >/dev/null
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "[image] cannot run arm64 programs here (binfmt_misc)" >&2; exit 1; }
  # The arm64 Debian base (debootstrap --arch arm64 under emulation, about 5 minutes the first time).
  "$VENV/bin/python" -m helpers.containers.base_images ensure debian --arch arm64 | sed 's/^/  /'
else
  # The base images the notebooks use, on this machine's engine first (built here if missing).
  "$VENV/bin/python" scripts/provision.py --all | sed 's/^/  /'
fi

ctx=$(mktemp -d /tmp/cloud-workbook-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
say "build context: the repository's tracked files and the base images ($ctx)"
mkdir -p "$ctx/src"
git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$ctx/src"
# Certificate authorities this host added to its trust store (a proxy's, for instance): pip in the
# build must trust what pip on the host trusts. Certificates are public; no key is copied.
mkdir -p "$ctx/certs"
cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
if [ $ARCH = amd64 ]; then
  mapfile -t bases < <("$VENV/bin/python" -c '
from helpers.containers import base_images
print("\n".join(f"{n}:latest" for n in base_images.recipes()))')
  bases+=(registry:2)
  docker save "${bases[@]}" -o "$ctx/images.tar"
  say "base images saved: ${bases[*]} ($(du -m "$ctx/images.tar" | cut -f1) MB)"
else  # this machine's base images are amd64: the arm64 engine builds its own at first use
  tar -cf "$ctx/images.tar" -T /dev/null
fi

say "building ${TAGS[1]} (the first build installs Debian packages and the Python environment: several minutes)"
ref=${TAGS[1]}
docker build --network host --force-rm --build-arg WORKBOOK_VERSION="$VERSION" --build-arg BASE="$BASE" \
  --label org.cloud-workbook.image="$VERSION" \
  --label org.cloud-workbook.lock-sha256="$(sha256sum requirements.lock | cut -d' ' -f1)" "${TAGS[@]}" -f image/Dockerfile "$ctx" \
  || { echo "[image] the build of $ref failed: its last step's output is above" >&2; exit 1; }
if [ $ARCH != amd64 ]; then "$VENV/bin/python" scripts/set_image_arch.py "$ref" "$ARCH"; fi
size=$(docker image inspect "$ref" --format '{{.Size}}')
say "built $ref ($((size / 1000000)) MB) in $(( $(date +%s) - t0 )) s. Run it with:"
echo
echo "  docker run --rm -it --privileged -p 127.0.0.1:8888:8888 -v cloud-workbook-work:/workbook/work -v cloud-workbook-docker:/var/lib/docker $([ $ARCH = amd64 ] && echo "$IMAGE" || echo "$ref")"
echo
echo "  (or: make run-image, which falls back to the equivalent flags where --privileged is refused)"

if [ "${1:-}" = tar ]; then
  mkdir -p dist
  out=dist/$IMAGE-$VERSION.tar.gz
  say "writing $out (docker save | gzip)"
  docker save "$IMAGE:$VERSION" "$IMAGE:latest" | gzip -1 > "$out.tmp" && mv "$out.tmp" "$out"
  say "$out: $(du -m "$out" | cut -f1) MB. A student runs: docker load -i $(basename "$out"), then the command above."
fi
