"""Give a local image the architecture its files really have (``docker import`` and the classic
builder record the engine's own, amd64, when the daemon is not in experimental mode).

    python scripts/set_image_arch.py cloud-workbook:0.1.0-arm64 arm64

A thin command line over :func:`helpers.containers.base_images.set_architecture`: the image is
saved, its configuration's ``architecture`` (and ``variant``) rewritten, and the result loaded back
under the same tags. The layers are not touched; the image id changes (the configuration's digest).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.containers.base_images import set_architecture  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    print(f"{sys.argv[1]}: {set_architecture(*sys.argv[1:])}")
