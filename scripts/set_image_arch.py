"""Give a local image the architecture its files really have (``docker import`` and the classic
builder record the engine's own, amd64, when the daemon is not in experimental mode).

    python scripts/set_image_arch.py cloud-workbook:0.1.0-arm64 arm64

The image is saved, its configuration's ``architecture`` (and ``variant``) rewritten, and the
result loaded back under the same tags. The layers are not touched; the image id changes, since
it is the digest of the configuration.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def set_arch(ref: str, arch: str, variant: str | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="image-arch-") as tmp:
        saved, fixed = Path(tmp) / "saved.tar", Path(tmp) / "fixed.tar"
        subprocess.run(["docker", "save", "-o", str(saved), ref], check=True)
        with tarfile.open(saved) as src, tarfile.open(fixed, "w") as dst:
            manifest = json.load(src.extractfile("manifest.json"))
            renamed = {}
            for entry in manifest:
                config = json.load(src.extractfile(entry["Config"]))
                config["architecture"] = arch
                config.pop("variant", None)
                if variant:
                    config["variant"] = variant
                data = json.dumps(config, separators=(",", ":")).encode()
                name = hashlib.sha256(data).hexdigest() + ".json"
                renamed[entry["Config"]] = (name, data)
                entry["Config"] = name
            for member in src.getmembers():
                if member.name in renamed or member.name in ("manifest.json", "repositories"):
                    continue
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            extras = {"manifest.json": json.dumps(manifest).encode()}
            extras.update({name: data for name, data in renamed.values()})
            for name, data in extras.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
        subprocess.run(["docker", "load", "-q", "-i", str(fixed)], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run(["docker", "image", "inspect", ref, "--format", "{{.Architecture}}"],
                          check=True, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    print(f"{sys.argv[1]}: {set_arch(*sys.argv[1:])}")
