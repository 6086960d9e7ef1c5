"""Prepare what the notebooks need, once: base images, the tiny guest, the KVM probe.

Called by the set-up script; every step is skipped quickly when already done
and reported (not fatal) when this machine cannot do it.

    python scripts/provision.py            # base images + guest + KVM probe
    python scripts/provision.py --all      # also every image recipe in data/images
"""

from __future__ import annotations

import importlib
import sys
import time

from helpers.core.errors import WorkbookError

BASE_IMAGES = ("debian", "python", "nginx")  # what the first notebooks use


def _step(title: str, fn) -> bool:
    started = time.monotonic()
    try:
        result = fn()
    except WorkbookError as exc:
        print(f"[provision] {title}: skipped — {exc}")
        return False
    except Exception as exc:  # provisioning must never hide the rest of the set-up
        print(f"[provision] {title}: failed — {type(exc).__name__}: {exc}")
        return False
    print(f"[provision] {title}: {result or 'ready'} ({time.monotonic() - started:.1f} s)")
    return True


def main(argv: list[str]) -> int:
    from helpers.containers import engine, base_images
    from helpers import envcheck

    ok = True
    if engine.available():
        names = list(BASE_IMAGES)
        if "--all" in argv:
            names += [n for n in base_images.recipes() if n not in names]
        for name in names:
            ok &= _step(f"image {name}", lambda n=name: base_images.ensure_image(n, quiet=True).tags[0])
    else:
        print("[provision] images: skipped — the Docker daemon does not answer.")
    try:
        guest = importlib.import_module("helpers.virtualization.guest")
    except ImportError:
        guest = None
    if guest is not None and hasattr(guest, "ensure"):
        ok &= _step("tiny guest", lambda: f"kernel {guest.ensure().kernel_version}")
    _step("KVM probe", lambda: "usable" if envcheck.kvm_usable() else
          f"not usable ({envcheck.kvm_probe()['reason']}); guests use TCG")
    return 0  # missing pieces are reported by the notebooks' banners


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
