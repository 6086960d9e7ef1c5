"""A real guest seen from the host: its serial console, a command typed into it, its QEMU process.

On ``qemu:///system`` the tiny guest's serial console is copied to a file
(:func:`helpers.virtualization.domains.console_log_path`); :func:`wait_console` waits, a bounded
time, for a line of it, and :func:`run_in_guest` types a command through ``dom.openConsole``
(what ``virsh console`` does).  The test driver has no guest OS: there is no console.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
from pathlib import Path

import libvirt

from helpers.core.errors import WorkbookError, wait_for
from helpers.virtualization.connection import is_real
from helpers.virtualization.domains import console_log_path


def console_text(dom_or_name) -> str | None:
    """What the guest printed on its serial console so far (``None`` on the test driver)."""
    dom_name = dom_or_name if isinstance(dom_or_name, str) else dom_or_name.name()
    if not isinstance(dom_or_name, str) and not is_real(dom_or_name.connect()):
        return None
    try:
        raw = console_log_path(dom_name).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "")


def wait_console(dom, text: str, timeout: float = 60) -> float:
    """Wait until the console shows ``text``; returns the seconds waited."""
    t0 = time.monotonic()
    wait_for(lambda: text in (console_text(dom) or ""), timeout=timeout,
             what=f"{dom.name()} to print {text!r} on its console", interval=0.1)
    return time.monotonic() - t0


def boot_and_wait(dom, timeout: float = 90) -> float:
    """``dom.create()`` if it is not running, then the seconds until the guest's shell prompt."""
    from helpers.virtualization import guest
    t0 = time.monotonic()
    if not dom.isActive():
        dom.create()
    wait_console(dom, guest.READY_MARKER, timeout)
    wait_console(dom, guest.PROMPT, timeout)
    return time.monotonic() - t0


_COUNTER = [0]


def run_in_guest(dom, command: str, timeout: float = 30) -> str:
    """Type ``command`` on the guest's serial console and return what it printed.

    Uses ``dom.openConsole`` with a libvirt stream (what ``virsh console`` does);
    the output is read back from the console log.
    """
    conn = dom.connect()
    if not is_real(conn):
        raise WorkbookError("The test:///default driver simulates domains without a guest OS, so there is "
                            "no console to type into: use qemu:///system.")
    _COUNTER[0] += 1
    n = _COUNTER[0]
    begin, end = f"WBBEGIN{n}", f"WBEND{n}"
    # Typed as WB""BEGIN so that the echo of the typed line does not contain the marker.
    line = f'echo WB""BEGIN{n}; {command}; echo WB""END{n}\n'
    stream = conn.newStream(0)
    try:
        dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        stream.send(line.encode())
        text = wait_for(lambda: (t := console_text(dom) or "") and re.search(
            rf"^{begin}\n(.*?)^{end}$", t, re.S | re.M), timeout=timeout,
            what=f"the guest to run {command!r}", interval=0.1)
    finally:
        try:
            stream.finish()
        except libvirt.libvirtError:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
    return text.group(1).rstrip("\n")


def qemu_process(dom) -> dict | None:
    """The QEMU process libvirt runs for ``dom``: pid, user, resident MiB, elapsed time and argv.

    ``None`` when there is none (the test driver, or a domain that is not running).
    The command line is read whole from ``/proc/<pid>/cmdline`` (ps would cut it).
    """
    if not is_real(dom.connect()) or not dom.isActive():
        return None
    out = subprocess.run(["ps", "-C", "qemu-system-x86_64", "-o", "pid=,user:32=,rss=,etime="],
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        pid, user, rss, etime = line.split()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue   # it ended meanwhile
        if any(a.startswith(f"guest={dom.name()},") or a == f"guest={dom.name()}" for a in argv):
            return {"pid": int(pid), "user": user, "rss MiB": int(rss) / 1024, "elapsed": etime, "argv": argv}
    return None


#: The QEMU options that say what machine a guest is, in the order they are shown.
QEMU_OPTIONS = ("-name", "-machine", "-accel", "-cpu", "-m", "-smp", "-kernel", "-initrd", "-append")


def qemu_command_summary(argv: list[str], width: int = 100) -> list[str]:
    """Readable lines for a QEMU command line: the binary, the options of :data:`QEMU_OPTIONS`,
    and the ``-device`` options counted with their drivers (their JSON values are long)."""
    lines = [f"{argv[0]}   ({len(argv)} arguments in all)"]
    values: dict[str, list[str]] = {}
    for opt, val in zip(argv, argv[1:]):
        values.setdefault(opt, []).append(val)
    for opt in QEMU_OPTIONS:
        for val in values.get(opt, []):
            lines += textwrap.wrap(f"{opt} {val}", width, initial_indent="  ", subsequent_indent="      ")
    drivers = []
    for val in values.get("-device", []):
        try:
            drivers.append(json.loads(val).get("driver", "?"))
        except ValueError:
            drivers.append(val.split(",")[0])
    if drivers:
        lines += textwrap.wrap(f"-device ×{len(drivers)}: {', '.join(drivers)}", width, initial_indent="  ",
                               subsequent_indent="      ")
    return lines
