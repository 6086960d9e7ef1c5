"""A tiny bootable Linux guest, built locally from what Debian already installed.

The guest is two files:

* the distribution's own kernel (``/boot/vmlinuz-*`` from ``linux-image-amd64``), and
* an initramfs (:mod:`helpers.virtualization.initramfs`): the static ``busybox`` binary, the few kernel modules a
  virtio machine needs, and a handful of boot scripts.

Nothing is downloaded.  Booted directly by QEMU (``-kernel``/``-initrd``, no disk,
no bootloader) it reaches a shell prompt in a few seconds even under pure
emulation (TCG).  On the way it prints what it sees of its virtual hardware (the
virtio devices, the CPU model) on its serial console, answers an ACPI power-button
press by powering off (``busybox acpid``), and, when asked on the kernel command
line, runs a small benchmark and powers off (see :mod:`helpers.virtualization.bench`).

The files are cached in :data:`GUEST_DIR` (readable by the ``libvirt-qemu`` user
that runs guests for ``qemu:///system``) and rebuilt only when an input changes
(kernel, busybox, modules, or the scripts of :mod:`helpers.virtualization.initramfs`)::

    python -m helpers.virtualization.guest ensure      # build once (set-up calls this)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from helpers.core.errors import WorkbookError
from helpers.virtualization.initramfs import (  # noqa: F401 (guest.PROMPT, guest.WORKLOAD... stay here too)
    BUSYBOX, FORMAT_VERSION, INIT, INITTAB, MODULES, POWER_BUTTON, PROFILE, PROMPT, RC, READY_MARKER, UDHCPC_SCRIPT,
    WORKLOAD, build_initramfs, modules_dir)

#: Where the guest and the session files (console logs, saved images, pools) live.
GUEST_DIR = Path(os.environ.get("WORKBOOK_GUEST_DIR", "/var/lib/libvirt/images/cloud-workbook"))
QEMU = os.environ.get("WORKBOOK_QEMU", "qemu-system-x86_64")


class GuestError(WorkbookError):
    """The tiny guest cannot be built or booted."""


@dataclass(frozen=True)
class Guest:
    """The built guest: kernel and initramfs paths, kernel version, build key."""

    kernel: Path
    initrd: Path
    kernel_version: str
    key: str
    built_now: bool = False

    def cmdline(self, mode: str = "interactive", extra: str = "") -> str:
        """Kernel command line: serial console, quiet boot, power off on panic."""
        return " ".join(p for p in ["console=ttyS0", "quiet", "loglevel=3", "panic=-1",
                                    f"wb.mode={mode}", extra] if p)


# --------------------------------------------------------------------------- building

def kernel_version() -> str:
    """Newest installed kernel that has both a ``/boot/vmlinuz-*`` and its modules."""
    found = []
    for path in Path("/boot").glob("vmlinuz-*"):
        version = path.name[len("vmlinuz-"):]
        if (Path("/lib/modules") / version / "kernel").is_dir():
            found.append(version)
    if not found:
        raise GuestError("No Debian kernel with modules was found in /boot: install it with "
                         "`apt-get install linux-image-amd64` and run `python -m helpers.virtualization.guest ensure`.")

    def numeric(v):
        return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", v)]
    return max(found, key=numeric)


def _input_key(version: str) -> str:
    """A hash of everything the guest is made from: a changed input means a rebuild."""
    h = hashlib.sha256()
    h.update(f"format {FORMAT_VERSION}\n".encode())
    for text in (INIT, INITTAB, RC, WORKLOAD, PROFILE, POWER_BUTTON, UDHCPC_SCRIPT, "\n".join(MODULES)):
        h.update(text.encode())
    for path in [Path("/boot") / f"vmlinuz-{version}", BUSYBOX,
                 *(modules_dir(version) / m for m in MODULES)]:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise GuestError(f"{path} is missing, so the tiny guest cannot be built: install the "
                             f"packages linux-image-amd64 and busybox-static.") from None
        h.update(f"{path} {st.st_size} {int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def _guest_dir() -> Path:
    return GUEST_DIR / "guest"


def cached() -> Guest | None:
    """The guest already built for the current inputs, or ``None``."""
    version = kernel_version()
    key = _input_key(version)
    d = _guest_dir()
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    kernel, initrd = d / "vmlinuz", d / "initramfs.cpio.gz"
    if manifest.get("key") != key or not kernel.is_file() or not initrd.is_file():
        return None
    return Guest(kernel, initrd, version, key)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # qemu:///system runs guests as the libvirt-qemu user: it must reach the files.
    path.chmod(0o755)


def ensure(force: bool = False, quiet: bool = True) -> Guest:
    """Build the guest unless an up-to-date copy is cached; return it."""
    if not force:
        guest = cached()
        if guest:
            return guest
    try:
        _make_dir(GUEST_DIR)
        _make_dir(_guest_dir())
    except PermissionError:
        raise GuestError(f"Cannot write {GUEST_DIR}: run `sudo python -m helpers.virtualization.guest ensure` once "
                         f"(or set WORKBOOK_GUEST_DIR to a folder the libvirt-qemu user can read).") from None
    d = _guest_dir()
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another kernel may be building it right now
        if not force and (guest := cached()):
            return guest
        t0 = time.monotonic()
        version = kernel_version()
        key = _input_key(version)
        initrd = build_initramfs(version)
        for name, data in [("vmlinuz", (Path("/boot") / f"vmlinuz-{version}").read_bytes()),
                           ("initramfs.cpio.gz", initrd)]:
            tmp = d / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o644)
            os.replace(tmp, d / name)
        (d / "manifest.json").write_text(json.dumps(
            {"key": key, "kernel_version": version, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "initrd_bytes": len(initrd), "build_seconds": round(time.monotonic() - t0, 2)}, indent=1))
        if not quiet:
            print(f"Built the tiny guest (kernel {version}, initramfs {len(initrd) // 1024} KiB) in {d}.")
        return Guest(d / "vmlinuz", d / "initramfs.cpio.gz", version, key, built_now=True)


# --------------------------------------------------------------------------- session files

def session_dir() -> Path:
    """Folder for console logs and saved images of the workbook's sessions."""
    d = GUEST_DIR / "session"
    _make_dir(GUEST_DIR)
    _make_dir(d)
    return d


# --------------------------------------------------------------------------- domain XML

DOMAIN_TEMPLATE = """<domain type={type}>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{emulator}</emulator>{disk}{interface}
    <serial type='pty'>
      <log file={console_log} append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
    <video><model type='none'/></video>
  </devices>
</domain>
"""


def domain_xml(name: str, guest: Guest, *, console_log: str | Path, memory_mib: int = 128,
               vcpus: int = 1, domain_type: str = "qemu", network: str | None = None,
               disk: str | Path | None = None, cmdline_extra: str = "") -> str:
    """Libvirt domain XML for the tiny guest.

    Direct kernel boot (no disk needed), the serial console on a pseudo-terminal
    (``virsh console`` works) and copied to ``console_log``, a virtio RNG and
    balloon; optionally a virtio NIC on libvirt ``network`` and a virtio disk
    ``disk`` (a qcow2 volume).  ``domain_type`` is ``'qemu'`` (TCG) or ``'kvm'``.
    """
    emulator = shutil.which(QEMU) or "/usr/bin/qemu-system-x86_64"
    disk_xml = ""
    if disk:
        fmt = "qcow2" if str(disk).endswith(".qcow2") else "raw"
        disk_xml = (f"\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='{fmt}'/>"
                    f"\n      <source file={quoteattr(str(disk))}/>\n      <target dev='vda' bus='virtio'/>"
                    f"\n    </disk>")
    nic_xml = ""
    if network:
        nic_xml = (f"\n    <interface type='network'>\n      <source network={quoteattr(network)}/>"
                   f"\n      <model type='virtio'/>\n    </interface>")
    return DOMAIN_TEMPLATE.format(
        type=quoteattr(domain_type), name=escape(name), memory=int(memory_mib), vcpus=int(vcpus),
        kernel=escape(str(guest.kernel)), initrd=escape(str(guest.initrd)),
        cmdline=escape(guest.cmdline("interactive", cmdline_extra)), emulator=escape(emulator),
        disk=disk_xml, interface=nic_xml, console_log=quoteattr(str(console_log)))


# --------------------------------------------------------------------------- direct QEMU runs

@dataclass
class QemuRun:
    """One guest run with QEMU directly: console text and host-side timings (s)."""

    accel: str
    console: str
    seconds: float
    ready_after: float | None
    returncode: int | None
    timed_out: bool
    #: The QEMU command line that was run.
    argv: list[str] = field(default_factory=list)

    def option(self, name: str) -> str | None:
        """The value given to QEMU option ``name`` (``'-m'``, ``'-smp'``...), or None."""
        return next((v for o, v in zip(self.argv, self.argv[1:]) if o == name), None)

    def console_value(self, key: str) -> str | None:
        """What the guest printed after ``key`` on its console (``'cpu: '``, ``'memory: '``...)."""
        m = re.search(rf"(?:^|[ ,]){re.escape(key)}(.*?)\s*$", self.console, re.M)
        return m.group(1).split(",")[0].strip() if m else None


def run_qemu(guest: Guest, *, accel: str = "tcg", mode: str = "bench", extra: str = "",
             memory_mib: int = 128, timeout: float = 60.0, stop_at: str | None = None) -> QemuRun:
    """Boot the guest with ``qemu-system-x86_64`` as a plain child process.

    This is the type-II hypervisor at its barest: one process, no libvirt.
    The serial console is captured from stdout.  ``mode='bench'`` or
    ``'probe'`` make the guest power itself off; otherwise ``stop_at`` (a text
    to wait for on the console) ends the run.  The process is always killed
    after ``timeout`` seconds (a KVM guest that hangs must never hang us).
    """
    argv = [QEMU, "-accel", accel, "-m", str(memory_mib), "-smp", "1", "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", str(guest.kernel), "-initrd", str(guest.initrd),
            "-append", guest.cmdline(mode, extra),
            "-device", "virtio-rng-pci", "-device", "virtio-balloon-pci",
            # A virtio disk (backed by nothing) and a virtio NIC next to an emulated
            # Intel e1000 NIC: paravirtual and fully emulated devices side by side.
            "-blockdev", "null-co,node-name=disk0,size=67108864", "-device", "virtio-blk-pci,drive=disk0",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
            "-netdev", "user,id=net1", "-device", "e1000,netdev=net1"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    os.set_blocking(proc.stdout.fileno(), False)
    chunks: list[bytes] = []
    ready_after = None
    timed_out = False
    try:
        while True:
            try:
                data = proc.stdout.read()
            except BlockingIOError:
                data = None
            if data:
                chunks.append(data)
                text = b"".join(chunks).decode(errors="replace")
                if ready_after is None and READY_MARKER in text:
                    ready_after = time.monotonic() - t0
                if stop_at and stop_at in text:
                    break
            elif proc.poll() is not None:
                break
            if time.monotonic() - t0 > timeout:
                timed_out = True
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        rest = b""
        try:
            rest = proc.stdout.read() or b""
        except (BlockingIOError, ValueError):
            pass
        chunks.append(rest)
        proc.stdout.close()
    console = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return QemuRun(accel, console, time.monotonic() - t0, ready_after, proc.returncode, timed_out, argv)


def console_excerpt(text: str, *, start: str | None = None, end: str | None = None) -> str:
    """The console lines between two markers (inclusive), without terminal noise."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
    lines = text.splitlines()
    i = next((k for k, l in enumerate(lines) if start and start in l), 0)
    j = next((k for k, l in enumerate(lines) if end and end in l and k >= i), len(lines) - 1)
    return "\n".join(lines[i:j + 1])


def _main(argv: list[str]) -> int:
    if argv[:1] == ["ensure"]:
        force = "--force" in argv
        try:
            guest = ensure(force=force, quiet=False)
        except WorkbookError as exc:
            print(exc, file=sys.stderr)
            return 1
        if not guest.built_now:
            print(f"The tiny guest is up to date in {guest.kernel.parent} (kernel {guest.kernel_version}).")
        return 0
    if argv[:1] == ["boot"]:  # a quick manual check: boot under TCG and print the console
        run = run_qemu(ensure(), accel="tcg", mode="interactive", stop_at=PROMPT, timeout=90)
        print(run.console)
        print(f"ready after {run.ready_after} s")
        return 0 if run.ready_after else 1
    print("usage: python -m helpers.virtualization.guest ensure [--force] | boot", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
