"""What can this machine run?  The environment report.

:func:`report` checks, each with a timeout, every capability the workbook
uses and returns structured :class:`Check` results; :func:`show` draws them
as a table with what to do for each missing piece; :func:`banner` is the one
line a notebook shows at its top when something it needs is missing.

KVM deserves care: ``/dev/kvm`` may exist while a KVM guest never gets
anywhere (nested virtualisation without the CPU features Linux expects).
So :func:`kvm_usable` boots a real Linux kernel with a two-line initramfs
under KVM and waits, with a timeout, for it to print a marker.  The answer
is cached until the next reboot.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from helpers.core import session
from helpers.core.errors import WaitTimeout, run_with_timeout
from helpers.core.verdict import Verdict

MARKER = "WORKBOOK-PROBE-OK"


@dataclass
class Check:
    """One capability: ``ok`` or not, what was seen, and what to do about it."""

    key: str
    name: str
    ok: bool
    detail: str
    fix: str = ""
    seconds: float = 0.0
    data: dict = field(default_factory=dict)


def _timed(fn):
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        check = fn(*args, **kwargs)
        check.seconds = round(time.monotonic() - started, 2)
        return check
    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


# --- Docker --------------------------------------------------------------------

@_timed
def check_docker(timeout: float = 5) -> Check:
    """Does the Docker daemon answer, and which version is it?"""
    try:
        import docker
        cli = docker.from_env(timeout=timeout)
        version = cli.version()
        info = cli.info()
    except Exception:
        fix = ("Start it: `sudo systemctl start docker` (Linux), open Docker Desktop (macOS/Windows), "
               "or run `make lab` as root, which starts it for you.")
        if os.path.exists("/var/run/docker.sock") and not os.access("/var/run/docker.sock", os.W_OK):
            fix = "Add yourself to the docker group: `sudo usermod -aG docker $USER`, then log in again."
        return Check("docker", "Docker daemon", False, "The Docker daemon does not answer.", fix)
    return Check("docker", "Docker daemon", True,
                 f"Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}), "
                 f"storage driver {info.get('Driver')}, {info.get('Containers', 0)} containers, "
                 f"{info.get('Images', 0)} images.",
                 data={"version": version.get("Version"), "api": version.get("ApiVersion"),
                       "driver": info.get("Driver"),
                       "swarm": (info.get("Swarm") or {}).get("LocalNodeState", "")})


@_timed
def check_registry(timeout: float = 4) -> Check:
    """Does an image registry (Docker Hub, or a configured mirror) answer?"""
    import requests

    urls = ["https://registry-1.docker.io/v2/"]
    try:
        import docker
        mirrors = (docker.from_env(timeout=timeout).info().get("RegistryConfig") or {}).get("Mirrors") or []
        urls = [m.rstrip("/") + "/v2/" for m in mirrors] + urls
    except Exception:
        pass
    for url in urls:
        try:
            answer = requests.get(url, timeout=timeout)
            return Check("registry", "Image registry", True, f"{url} answers (HTTP {answer.status_code}).")
        except requests.RequestException:
            continue
    return Check("registry", "Image registry", False,
                 "No image registry answers: `docker pull` cannot work here.",
                 "Nothing to do: the workbook builds the images it needs locally (debian, python, "
                 "nginx...). With internet access, pulls work as in the chapter.")


@_timed
def check_compose() -> Check:
    """Is Docker Compose available (plugin or standalone binary)?  Same search as helpers.orchestration.cli."""
    from helpers.core.errors import WorkbookError
    from helpers.orchestration import cli

    try:
        argv = cli.command()
        text = cli.version()
    except WorkbookError as exc:
        return Check("compose", "Docker Compose", False, "No Docker Compose found.", str(exc))
    return Check("compose", "Docker Compose", True, f"{' '.join(Path(a).name for a in argv)}: {text}",
                 data={"argv": argv})


@_timed
def check_swarm(docker_check: Check | None = None) -> Check:
    """Can this engine run swarm mode?"""
    docker_check = docker_check or check_docker()
    if not docker_check.ok:
        return Check("swarm", "Swarm mode", False, "Needs the Docker daemon.", docker_check.fix)
    state = docker_check.data.get("swarm") or "inactive"
    detail = {"inactive": "Available (inactive now; notebook 13 turns it on and off again).",
              "active": "Active already (notebook 13 uses it and leaves it active)."}.get(
        state, f"Swarm state is {state!r}.")
    return Check("swarm", "Swarm mode", state in ("inactive", "active"), detail,
                 "" if state in ("inactive", "active") else "Leave the swarm with `docker swarm leave --force`.",
                 data={"state": state})


# --- libvirt and QEMU ------------------------------------------------------------

def _libvirt_open(uri: str, timeout: float):
    import libvirt

    libvirt.registerErrorHandler(lambda *a: None, None)  # errors arrive as exceptions
    return run_with_timeout(lambda: libvirt.open(uri), timeout=timeout, what=f"libvirt at {uri}")


@_timed
def check_libvirt_test(timeout: float = 5) -> Check:
    """Does libvirt's embedded test driver work (no daemon needed)?"""
    try:
        conn = _libvirt_open("test:///default", timeout)
        names = [d.name() for d in conn.listAllDomains()]
        conn.close()
    except ImportError:
        return Check("libvirt-test", "libvirt test:///default", False, "libvirt-python is not installed.",
                     "Run the README's set-up command (it installs libvirt-dev and libvirt-python).")
    except Exception as exc:
        return Check("libvirt-test", "libvirt test:///default", False, f"It fails: {exc}",
                     "Reinstall libvirt-python with the README's set-up command.")
    return Check("libvirt-test", "libvirt test:///default", True,
                 f"Works in-process; it simulates a host with domain(s) {', '.join(names)}.")


@_timed
def check_libvirt_qemu(timeout: float = 10) -> Check:
    """Does a QEMU driver answer (qemu:///system, else qemu:///session)?"""
    errors = []
    for uri in ("qemu:///system", "qemu:///session"):
        try:
            conn = _libvirt_open(uri, timeout)
            version = conn.getVersion()
            conn.close()
            major, minor, micro = version // 1_000_000, version // 1000 % 1000, version % 1000
            return Check("libvirt-qemu", "libvirt QEMU driver", True,
                         f"{uri} answers (QEMU {major}.{minor}.{micro}).", data={"uri": uri})
        except (ImportError, WaitTimeout) as exc:
            errors.append(str(exc))
        except Exception as exc:
            errors.append(str(exc).splitlines()[0])
    return Check("libvirt-qemu", "libvirt QEMU driver", False,
                 "libvirtd does not answer at qemu:///system or qemu:///session.",
                 "Start it: `sudo systemctl start libvirtd` (or `make lab` as root); the libvirt notebooks "
                 "use test:///default meanwhile.", data={"errors": errors})


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _probe_initramfs(busybox: str) -> bytes:
    """A gzip'd cpio archive with busybox and an /init that prints MARKER and powers off."""
    import stat

    files = [("bin", None, 0o040755), ("bin/busybox", Path(busybox).read_bytes(), 0o100755),
             ("init", f"#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n".encode(), 0o100755)]
    out = io.BytesIO()
    for ino, (name, data, mode) in enumerate(files + [("TRAILER!!!", None, 0)], start=1):
        data = data or b""
        name_b = name.encode() + b"\0"
        header = "070701" + "".join(f"{v:08X}" for v in (
            ino if name != "TRAILER!!!" else 0, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0,
            len(data), 0, 0, 0, 0, len(name_b), 0))
        out.write(header.encode() + name_b)
        out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
    return gzip.compress(out.getvalue())


def probe_boot(accel: str, timeout: float = 20) -> dict:
    """Boot the host's Linux kernel with a marker-printing initramfs under ``accel``.

    Returns ``{"ok", "seconds", "reason"}``; never waits longer than ``timeout``.
    """
    qemu = shutil.which("qemu-system-x86_64")
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    busybox = shutil.which("busybox")
    if not qemu:
        return {"ok": False, "seconds": 0, "reason": "qemu-system-x86_64 is not installed"}
    if not kernels or not busybox or not os.access(kernels[-1], os.R_OK):
        return {"ok": False, "seconds": 0, "reason": "no readable kernel in /boot or no busybox to build a probe guest"}
    with tempfile.TemporaryDirectory(prefix="kvm-probe-") as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(_probe_initramfs(busybox))
        serial = Path(tmp) / "serial.txt"
        argv = [qemu, "-accel", accel, "-display", "none", "-no-reboot", "-m", "128",
                "-serial", f"file:{serial}", "-kernel", kernels[-1], "-initrd", str(initrd),
                "-append", "console=ttyS0 quiet panic=-1"]
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = False
        while time.monotonic() - started < timeout:
            if serial.exists() and MARKER in serial.read_text(errors="replace"):
                ok = True
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        seconds = round(time.monotonic() - started, 2)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        err = (proc.stderr.read().decode(errors="replace") if proc.stderr else "").strip()
        proc.stderr and proc.stderr.close()
    if ok:
        return {"ok": True, "seconds": seconds, "reason": ""}
    if seconds >= timeout:
        return {"ok": False, "seconds": seconds, "reason": f"the guest printed nothing within {timeout:g} s (it hangs)"}
    lines = [ln for ln in err.splitlines() if "warning" not in ln]
    return {"ok": False, "seconds": seconds, "reason": (lines or ["QEMU exited without booting"])[-1]}


def kvm_usable(timeout: float = 15, *, refresh: bool = False) -> bool:
    """True when a KVM guest really boots here (probe cached until the next reboot)."""
    return kvm_probe(timeout, refresh=refresh)["ok"]


def kvm_probe(timeout: float = 15, *, refresh: bool = False) -> dict:
    """The cached KVM boot probe: ``{"ok", "seconds", "reason", "device"}``.

    Two kernels that start at once do not both spend ``timeout`` seconds: the probe runs under a
    lease, and the second reads the first one's result; the cache is replaced atomically, so a
    reader never sees it half-written."""
    from helpers.core import leases

    cache = session.state_dir() / "kvm-probe.json"

    def cached() -> dict | None:
        try:
            found = json.loads(cache.read_text())
            return found if found.get("boot_id") == _boot_id() else None
        except (OSError, ValueError):
            return None

    if not refresh and cached():
        return cached()
    with leases.acquire("kvm-probe", what="the KVM boot probe", wait=3 * timeout + 30, every=10):
        if not refresh and cached():
            return cached()  # another kernel probed while this one waited
        if not os.path.exists("/dev/kvm"):
            result = {"ok": False, "seconds": 0, "reason": "/dev/kvm does not exist"}
        elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
            result = {"ok": False, "seconds": 0,
                      "reason": "/dev/kvm exists but you may not use it (join the kvm group)"}
        else:
            result = probe_boot("kvm", timeout)
        result.update(boot_id=_boot_id(), device=os.path.exists("/dev/kvm"))
        try:
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, cache)
        except OSError:
            pass
    return result


def cpu_virtualization_flags() -> list[str]:
    """The hardware-virtualisation flags the CPU advertises (``vmx`` Intel VT-x, ``svm`` AMD-V)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"vmx", "svm"})


@_timed
def check_kvm(timeout: float = 15) -> Check:
    """Does a KVM guest really boot here?"""
    probe = kvm_probe(timeout)
    flags = cpu_virtualization_flags()
    flag_text = f"CPU flags: {', '.join(flags) or 'no vmx/svm'}"
    if probe["ok"]:
        return Check("kvm", "KVM acceleration", True,
                     f"A KVM guest booted in {probe['seconds']} s ({flag_text}).", data=probe)
    return Check("kvm", "KVM acceleration", False,
                 f"KVM is not usable: {probe['reason']} ({flag_text}, /dev/kvm "
                 f"{'present' if probe.get('device') else 'absent'}).",
                 "Nothing to do for the workbook: guests run under QEMU's software emulation (TCG), "
                 "slower but complete. For KVM, enable virtualisation in the BIOS or the VM host.", data=probe)


# --- where this runs ---------------------------------------------------------------

IMAGE_MARKER = Path("/etc/cloud-workbook-image")  # written into the portable image when it is built


def _cgroup_file(controller: str, v1_name: str, v2_name: str) -> str | None:
    """The content of this process's own cgroup file (v1 or v2), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" or controller in controllers.split(","):
            base = Path("/sys/fs/cgroup") if controllers == "" else Path("/sys/fs/cgroup") / controller
            name = v2_name if controllers == "" else v1_name
            for candidate in (base / path.lstrip("/") / name, base / name):
                try:
                    return candidate.read_text().strip()
                except OSError:
                    continue
    return None


def limits() -> dict:
    """The CPUs and memory this process may use (cgroup limits, else the machine's)."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = _cgroup_file("cpu", "cpu.cfs_quota_us", "cpu.max")
    if quota:
        parts = quota.split()
        if parts[0] not in ("max", "-1"):
            period = float(parts[1]) if len(parts) > 1 else float(_cgroup_file("cpu", "cpu.cfs_period_us", "") or 100000)
            cpus = min(cpus, float(parts[0]) / period)
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        total = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                         if l.startswith("MemTotal")).split()[1]) * 1024
    memory, limit = total, _cgroup_file("memory", "memory.limit_in_bytes", "memory.max")
    if limit and limit != "max" and limit.isdigit() and 0 < int(limit) < (total or int(limit) + 1):
        memory = int(limit)
    return {"cpus": round(cpus, 2), "memory_mib": memory // 2**20}


def check_place() -> Check:
    """On a host, in the portable image, or under a hub; and what the host gives it."""
    lim = limits()
    given = f"{lim['cpus']:g} CPU(s) and {lim['memory_mib']} MiB of memory may be used"
    kvm = "/dev/kvm present" if os.path.exists("/dev/kvm") else "no /dev/kvm (guests use TCG)"
    hub = os.environ.get("JUPYTERHUB_USER")
    if IMAGE_MARKER.exists():
        version, _, lock = IMAGE_MARKER.read_text().strip().partition("\n")
        detail = (f"inside the portable image cloud-workbook:{version}" + (f", for {hub} on a JupyterHub" if hub else "")
                  + f": its own Docker engine and libvirtd; the host gave it {kvm}; {given}.")
        return Check("place", "Where this runs", True, detail, data={"image": version, "lock": lock.split()[-1] if lock else None,
                                                                   **lim, "hub_user": hub})
    detail = (f"on this machine ({platform.node()})" + (f", for {hub} on a JupyterHub" if hub else "")
              + f"; {kvm}; {given}.")
    return Check("place", "Where this runs", True, detail, data={"image": None, **lim, "hub_user": hub})


# --- the report -----------------------------------------------------------------

def report(*, kvm_timeout: float = 15) -> list[Check]:
    """Run every check (each with its own timeout) and return the results."""
    docker_check = check_docker()
    checks = [
        check_place(),
        Check("python", "Python", True, f"Python {platform.python_version()} on {platform.system()} "
              f"{platform.machine()}"),
        docker_check,
        check_registry(),
        check_compose(),
        check_swarm(docker_check),
        check_libvirt_test(),
        check_libvirt_qemu(),
    ]
    if platform.system() == "Linux":
        checks.append(check_kvm(kvm_timeout))
    else:
        checks.append(Check("kvm", "KVM acceleration", False, f"KVM exists only on Linux, not {platform.system()}.",
                            "Guests need Linux; the libvirt notebooks use test:///default here."))
    return checks


def as_dict(checks: list[Check]) -> dict[str, dict]:
    """The report as plain data, by key."""
    return {c.key: asdict(c) for c in checks}


def table_html(checks: list[Check]) -> str:
    """The report as an HTML table (✔/✘, what was seen, what to do)."""
    import html

    rows = []
    for c in checks:
        mark = "<span style='color:#1a7f37;font-weight:bold'>✔</span>" if c.ok else \
            "<span style='color:#cf222e;font-weight:bold'>✘</span>"
        rows.append(f"<tr><td>{mark}</td><td><b>{html.escape(c.name)}</b></td>"
                    f"<td>{html.escape(c.detail)}</td><td>{html.escape(c.fix)}</td>"
                    f"<td style='text-align:right'>{c.seconds:.2f} s</td></tr>")
    return ("<table class='workbook-envcheck' style='border-collapse:collapse'>"
            "<thead><tr><th></th><th>Capability</th><th>What we found</th><th>What to do</th>"
            "<th>Check took</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def show(checks: list[Check] | None = None):
    """Display the report as a widget (and return it)."""
    import ipywidgets as widgets
    from IPython.display import display

    checks = checks if checks is not None else report()
    box = widgets.HTML(table_html(checks))
    display(box)
    return box


_NEEDS = {
    "docker": (check_docker, "the Docker daemon does not answer, so cells that need it are skipped"),
    "registry": (check_registry, "no image registry answers, so images are built locally instead of pulled"),
    "compose": (check_compose, "Docker Compose is missing"),
    "libvirtd": (check_libvirt_qemu, "libvirtd does not answer, so the libvirt cells use the test:///default driver"),
    "kvm": (check_kvm, "KVM does not run guests here, so guests use software emulation (TCG)"),
    "libvirt-test": (check_libvirt_test, "libvirt's test driver does not work"),
}


def banner(*needs: str) -> dict[str, bool]:
    """Show ONE banner naming what this notebook needs and cannot have here.

    Returns ``{need: available}`` so the notebook can choose what to run.
    """
    from IPython.display import HTML, display

    available: dict[str, bool] = {}
    missing: list[str] = []
    for need in needs:
        if need not in _NEEDS and need != "swarm":
            raise ValueError(f"Unknown capability {need!r}; choose from {sorted(_NEEDS) + ['swarm']}.")
        check = check_swarm() if need == "swarm" else _NEEDS[need][0]()
        available[need] = check.ok
        if not check.ok:
            reason = _NEEDS.get(need, (None, "swarm mode is not available"))[1]
            missing.append(f"{reason}. <i>{check.fix}</i>")
    if missing:
        display(HTML("<div class='workbook-banner' style='border-left:6px solid #d4a72c;background:#fff8c5;"
                     "padding:8px 12px;margin:4px 0'><b>On this machine:</b> " + " ".join(missing) + "</div>"))
    else:
        display(HTML("<div class='workbook-banner' style='border-left:6px solid #1a7f37;background:#dafbe1;"
                     "padding:6px 12px;margin:4px 0'>Everything this notebook needs is available here: "
                     + ", ".join(needs) + ".</div>"))
    return available




#: The question each capability answers, for the exercise's verdict.
QUESTIONS = {"docker": "does a Docker Engine answer here?",
             "registry": "can this machine pull images from a registry?",
             "compose": "is Docker Compose available?", "swarm": "can this engine run swarm mode?",
             "libvirt-test": "does libvirt's test driver work?", "libvirt-qemu": "does libvirt manage QEMU guests here?",
             "kvm": "does KVM really run a guest here?"}
_WORDS = {"yes": True, "no": False, "true": True, "false": False, "si": True, "sí": True, "y": True, "n": False}


def check_answer(key: str, answer) -> Verdict:
    """Exercise check: is ``answer`` (True or False) what this machine really says about capability ``key``?"""
    checks = {"docker": check_docker, "registry": check_registry, "compose": check_compose,
              "swarm": check_swarm, "libvirt-test": check_libvirt_test, "libvirt-qemu": check_libvirt_qemu,
              "kvm": check_kvm}
    if key not in checks:
        raise ValueError(f"Unknown capability {key!r}; choose from {sorted(checks)}.")
    v = Verdict(f"Exercise: {QUESTIONS[key]}")
    if answer is None:
        return v.not_attempted("No answer yet: the variable is still None.",
                               hint="Replace None with True or False (no quotes), then run the cell and this check.")
    if not isinstance(answer, bool):
        word = str(answer).strip().lower()
        said = (f"{answer!r} says it in words" if isinstance(answer, str) and word in _WORDS
                else f"{answer!r} is a {type(answer).__name__}, not a yes/no value")
        v.fail(f"{said}: the check compares a boolean with what the machine does.",
               hint="Answer True or False, without quotes (Python's two boolean values).")
        return v
    truth = checks[key]()
    if answer == truth.ok:
        v.ok(f"Right ({answer}): {truth.detail}")
    else:
        v.fail(f"{answer} is not what this machine does.",
               hint=f"Look at the row '{truth.name}' of the report again: a ✔ there means True, a ✘ False.")
    return v


if __name__ == "__main__":
    for c in report():
        print(f"{'OK ' if c.ok else 'NO '} {c.name:26} {c.detail}" + (f"\n    -> {c.fix}" if c.fix and not c.ok else ""))
