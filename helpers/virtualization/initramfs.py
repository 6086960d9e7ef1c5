"""What the tiny guest is made of: its boot scripts, its kernel modules, and the initramfs that holds them.

The initramfs is a ``newc`` cpio archive written here byte by byte (:class:`_Newc`): the
static ``busybox`` binary with a link per applet, the scripts below (PID 1, inittab, the boot
script that reports what the guest sees, the benchmark workloads, the ACPI power-button
handler, the DHCP client hook) and the virtio kernel modules of the host's Debian kernel.
:mod:`helpers.virtualization.guest` builds it once, caches it and boots it.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
from pathlib import Path

BUSYBOX = Path(os.environ.get("WORKBOOK_BUSYBOX", "/bin/busybox"))

#: Printed by the guest when its boot scripts are done (host-side boot timer).
READY_MARKER = "WB-READY"
#: The guest shell's prompt.
PROMPT = "wb-guest# "
#: Bump when the scripts below change in a way the hash would not notice.
FORMAT_VERSION = 3

# Kernel modules (relative to /lib/modules/<version>/kernel), in load order.
MODULES = [
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "drivers/char/virtio_console.ko",
    "drivers/virtio/virtio_balloon.ko",
    "drivers/char/hw_random/virtio-rng.ko",
    "drivers/acpi/button.ko",
    "drivers/input/evdev.ko",
]

INIT = """#!/bin/busybox sh
# PID 1 of the initramfs: mount the kernel's pseudo file systems, then hand over
# to busybox init (which reads /etc/inittab and knows how to power off cleanly).
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec /bin/busybox init
"""

INITTAB = """::sysinit:/etc/rc
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/bin/poweroff
::shutdown:/bin/echo WB-SHUTDOWN: the guest is powering off
"""

RC = r"""#!/bin/sh
# Boot script: load the virtio and ACPI drivers, report the virtual hardware,
# then (depending on the kernel command line) start a shell, a benchmark or a probe.
mkdir -p /tmp /run /var/log /dev/pts
mount -t tmpfs tmpfs /tmp
hostname wb-guest
for m in $(cat /etc/modules); do insmod /lib/modules/$m 2>/dev/null; done
# The ACPI power button (what `virsh shutdown` presses) arrives as an input event.
acpid -c /etc/acpi -l /var/log/acpid.log
cmdline=$(cat /proc/cmdline)
mode=interactive
case " $cmdline " in *" wb.mode=bench "*) mode=bench;; *" wb.mode=probe "*) mode=probe;; esac
if [ $mode = probe ]; then echo WB-PROBE-OK; poweroff -f; fi
echo "WB-BOOTED guest uptime $(cut -d' ' -f1 /proc/uptime) s"
echo "== what the guest sees =="
echo "kernel: $(uname -sr), memory: $(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2-)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
grep -qw hypervisor /proc/cpuinfo && echo "cpu flag 'hypervisor': present (the CPU admits it is virtual)"
echo "== PCI devices the guest sees (vendor:device, class, driver) =="
for d in /sys/bus/pci/devices/*; do
  v=$(cat $d/vendor); dev=$(cat $d/device); c=$(cat $d/class)
  case $v:$dev in
    0x1af4:*) what="virtio (paravirtual, Red Hat vendor id)";;
    0x8086:0x100e) what="Intel 82540EM e1000 NIC (emulated real hardware)";;
    0x8086:0x1237) what="Intel 440FX host bridge (emulated)";;
    0x8086:0x7000) what="Intel PIIX3 ISA bridge (emulated)";;
    0x8086:0x7010) what="Intel PIIX3 IDE (emulated)";;
    0x8086:0x7113) what="Intel PIIX4 ACPI (emulated)";;
    *) what="";;
  esac
  drv=none; [ -e $d/driver ] && drv=$(basename $(readlink $d/driver))
  echo "$(basename $d) ${v#0x}:${dev#0x} class=${c#0x} driver=$drv $what"
done
echo "== virtio devices on the guest's PCI bus (/sys/bus/virtio/devices) =="
for d in /sys/bus/virtio/devices/*; do
  [ -e "$d" ] || continue
  id=$(cat $d/device)
  case $id in
    0x0001) kind=network;; 0x0002) kind=block;; 0x0003) kind=console;;
    0x0004) kind=entropy;; 0x0005) kind=balloon;; *) kind=other;;
  esac
  drv=none; [ -e $d/driver ] && drv=$(basename $(readlink $d/driver))
  echo "$(basename $d): device=$id ($kind) driver=$drv"
done
for n in /sys/class/net/*; do [ -e $n/device ] && echo "net interface $(basename $n) -> $(basename $(readlink $n/device/driver))"; done
if [ -e /sys/class/net/eth0 ]; then
  # Ask the virtual network's DHCP server (libvirt's dnsmasq) for an address, in the background.
  ifconfig lo up; ifconfig eth0 up
  (udhcpc -i eth0 -q -n -t 5 -T 1 -s /etc/udhcpc.script >/dev/null 2>&1 || echo "WB-DHCP eth0 no lease" > /dev/ttyS0) &
fi
for b in /sys/block/vd*; do [ -e "$b" ] && echo "disk /dev/$(basename $b): $(( $(cat $b/size) / 2048 )) MiB"; done
if [ $mode = bench ]; then
  for w in $(sed -n 's/.*wb.bench=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' '); do
    t0=$(cut -d' ' -f1 /proc/uptime)
    /etc/workload $w >/dev/null
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "WB-RESULT $w $t0 $t1"
  done
  echo WB-BENCH-DONE
  poweroff -f
fi
echo "WB-READY guest uptime $(cut -d' ' -f1 /proc/uptime) s"
"""

#: The benchmark workloads; the very same script runs natively with the host's
#: copy of the same busybox binary (see helpers.virtualization.bench).
WORKLOAD = r"""#!/bin/sh
# Every tool is called as `busybox <applet>` so that the host runs the very same
# binary as the guest.  cpu: pure computation in awk; syscalls: 600,000 tiny
# read/write system calls; hash: SHA-256 of 16 MiB of zeros.
case "$1" in
  cpu) busybox awk 'BEGIN { s = 0; for (i = 0; i < 300000; i++) s += i % 7; print s }' ;;
  syscalls) busybox dd if=/dev/zero of=/dev/null bs=1 count=300000 2>&1 ;;
  hash) busybox dd if=/dev/zero bs=65536 count=256 2>/dev/null | busybox sha256sum ;;
  *) echo "unknown workload $1"; exit 2 ;;
esac
"""

PROFILE = f"""export PS1='{PROMPT}'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
"""

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew) ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
               [ -n "$router" ] && route add default gw "${router%% *}" 2>/dev/null
               echo "WB-DHCP $interface $ip" > /dev/ttyS0 ;;
esac
"""

POWER_BUTTON = """#!/bin/sh
echo "WB-ACPI: power button pressed, shutting down" > /dev/ttyS0
poweroff
"""


def modules_dir(version: str) -> Path:
    return Path("/lib/modules") / version / "kernel"


class _Newc:
    """A minimal writer for the ``newc`` cpio format the kernel unpacks as initramfs.

    Written here (rather than running ``cpio``) so that device nodes such as
    ``/dev/console`` can be added without root privileges and the archive is
    byte-for-byte reproducible (all timestamps 0).
    """

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        header = b"070701" + b"".join(f"{f:08x}".encode() for f in fields)
        self.buf.write(header + name_b)
        self.buf.write(b"\0" * (-(len(header) + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name, mode=0o755):
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name, data: bytes, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target: str):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        data = self.buf.getvalue()
        return data + b"\0" * (-len(data) % 512)


def build_initramfs(version: str) -> bytes:
    """The gzip-compressed initramfs for kernel ``version`` (bytes)."""
    out = _Newc()
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "tmp",
              "root", "lib", "lib/modules", "etc/acpi", "etc/acpi/PWRF", "var", "run"]:
        out.dir(d)
    out.chardev("dev/console", 5, 1)
    out.chardev("dev/null", 1, 3, 0o666)
    out.chardev("dev/ttyS0", 4, 64)
    out.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    listing = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in listing:  # e.g. "usr/bin/awk" -> /bin/busybox
        if applet != "bin/busybox":
            out.symlink(applet, "/bin/busybox")
    out.file("init", INIT.encode(), 0o755)
    out.file("etc/inittab", INITTAB.encode())
    out.file("etc/rc", RC.encode(), 0o755)
    out.file("etc/workload", WORKLOAD.encode(), 0o755)
    out.file("etc/profile", PROFILE.encode())
    out.file("etc/udhcpc.script", UDHCPC_SCRIPT.encode(), 0o755)
    out.file("etc/acpi/PWRF/00000080", POWER_BUTTON.encode(), 0o755)
    out.file("etc/hostname", b"wb-guest\n")
    out.file("etc/modules", "\n".join(Path(m).name for m in MODULES).encode() + b"\n")
    for m in MODULES:
        out.file(f"lib/modules/{Path(m).name}", (modules_dir(version) / m).read_bytes())
    return gzip.compress(out.finish(), compresslevel=6, mtime=0)
