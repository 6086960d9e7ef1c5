#!/usr/bin/env bash
# Build the portable image cloud-workbook:<version> (and :latest) offline, from the workbook's
# local Debian base: no registry is used. Idempotent: an unchanged workbook rebuilds from cache.
#   scripts/image.sh            build (make image)
#   scripts/image.sh tar        also write dist/cloud-workbook-<version>.tar.gz (make image-tar)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${WORKBOOK_VENV:-.venv}
VERSION=$("$VENV/bin/python" -c 'import helpers; print(helpers.__version__)')
IMAGE=cloud-workbook
say() { printf '\033[1m[image]\033[0m %s\n' "$*"; }
t0=$(date +%s)

# The base images the notebooks use, on this machine's engine first (built here if missing).
"$VENV/bin/python" scripts/provision.py --all | sed 's/^/  /'

ctx=$(mktemp -d /tmp/cloud-workbook-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
say "build context: the repository's tracked files and the base images ($ctx)"
mkdir -p "$ctx/src"
git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$ctx/src"
# Certificate authorities this host added to its trust store (a proxy's, for instance): pip in the
# build must trust what pip on the host trusts. Certificates are public; no key is copied.
mkdir -p "$ctx/certs"
cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
mapfile -t bases < <("$VENV/bin/python" -c '
from helpers.containers import base_images
print("\n".join(f"{n}:latest" for n in base_images.recipes()))')
bases+=(registry:2)
docker save "${bases[@]}" -o "$ctx/images.tar"
say "base images saved: ${bases[*]} ($(du -m "$ctx/images.tar" | cut -f1) MB)"

say "building $IMAGE:$VERSION (the first build installs Debian packages and the Python environment: several minutes)"
docker build --network host --force-rm --build-arg WORKBOOK_VERSION="$VERSION" \
  --label org.cloud-workbook.image="$VERSION" \
  -t "$IMAGE:$VERSION" -t "$IMAGE:latest" -f image/Dockerfile "$ctx" || true
docker image inspect "$IMAGE:$VERSION" >/dev/null 2>&1 || { echo "[image] the build failed (run it again to see the whole output: docker build -f image/Dockerfile …)" >&2; exit 1; }
size=$(docker image inspect "$IMAGE:$VERSION" --format '{{.Size}}')
say "built $IMAGE:$VERSION ($((size / 1000000)) MB) in $(( $(date +%s) - t0 )) s. Run it with:"
echo
echo "  docker run --rm -it --privileged -p 127.0.0.1:8888:8888 -v cloud-workbook-work:/workbook/work -v cloud-workbook-docker:/var/lib/docker $IMAGE"
echo
echo "  (or: make run-image, which falls back to the equivalent flags where --privileged is refused)"

if [ "${1:-}" = tar ]; then
  mkdir -p dist
  out=dist/$IMAGE-$VERSION.tar.gz
  say "writing $out (docker save | gzip)"
  docker save "$IMAGE:$VERSION" "$IMAGE:latest" | gzip -1 > "$out.tmp" && mv "$out.tmp" "$out"
  say "$out: $(du -m "$out" | cut -f1) MB. A student runs: docker load -i $(basename "$out"), then the command above."
fi
