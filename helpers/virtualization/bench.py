"""Experiments for the virtualization notebook: measure what the theory claims.

* :func:`call_costs` -- a plain function call versus a system call (crossing
  from ring 3 to ring 0 and back), measured with ``timeit``.
* :func:`time_multiplexing` -- processes sharing one CPU, recorded slice by slice.
* :func:`space_multiplexing` -- one virtual address, two processes, two contents.
* :class:`StripedVolume` -- aggregation: several files seen as one volume (RAID 0).
* :func:`compare_native_guest` -- the same busybox workloads natively, in the tiny
  guest under QEMU's binary translator (TCG) and, where it really works, under KVM.

Plots use matplotlib, with titles, labelled axes and units.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path

from helpers.virtualization import guest as guest_mod
from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict

WORKLOADS = ("cpu", "syscalls", "hash")


# --------------------------------------------------------------------------- rings

def _noop():
    return None


def call_costs(number: int = 200_000, repeat: int = 5) -> dict[str, float]:
    """Nanoseconds per call (best of ``repeat``) for calls that stay in user mode or enter the kernel."""
    candidates = {
        "Python function call\n(user mode)": ("f()", {"f": _noop}),
        "C builtin abs(-1)\n(user mode)": ("abs(-1)", {}),
        "time.perf_counter()\n(vDSO, user mode)": ("pc()", {"pc": time.perf_counter}),
        "os.getppid()\n(system call)": ("g()", {"g": os.getppid}),
        "os.stat('/')\n(system call + work)": ("s('/')", {"s": os.stat}),
    }
    result = {}
    for label, (stmt, env) in candidates.items():
        best = min(timeit.repeat(stmt, globals=env, number=number, repeat=repeat))
        result[label] = best / number * 1e9
    return result


def plot_call_costs(costs: dict[str, float], ax=None):
    """Bar chart of :func:`call_costs`: user-mode calls in blue, system calls in red."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(9, 3.8))[1]
    labels = list(costs)
    colors = ["#cf222e" if "system call" in k else "#0969da" for k in labels]
    bars = ax.bar(range(len(labels)), [costs[k] for k in labels], color=colors)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.bar_label(bars, fmt="%.0f ns", fontsize=8)
    ax.set_yscale("log")      # the costs span three orders of magnitude: on a linear axis the cheap bars vanish
    ax.set_ylim(top=max(costs.values()) * 3)      # room for the label above the tallest bar
    ax.set_ylabel("time per call (ns, log scale)")
    ax.set_title("Crossing into ring 0 costs more than a call that stays in ring 3")
    ax.figure.tight_layout()
    return ax


# --------------------------------------------------------------------------- multiplexing in time

# Each spinner is a fresh interpreter (not a fork of the kernel, which has threads).
_SPIN = r"""
import json, os, sys, time
cpu, seconds, t0 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
try:
    os.sched_setaffinity(0, {cpu})
except (AttributeError, OSError):
    pass
while time.time() < t0:  # start together
    pass
slices = []
last = begin = time.perf_counter()
offset = time.time() - begin
end = begin + seconds
while (now := time.perf_counter()) < end:
    if now - last > 0.0005:  # we were off the CPU for a while: a slice ended
        slices.append((begin + offset - t0, last + offset - t0))
        begin = now
    last = now
slices.append((begin + offset - t0, last + offset - t0))
print(json.dumps({"pid": os.getpid(), "slices": slices}))
"""


def time_multiplexing(processes: int = 3, seconds: float = 0.6, cpu: int = 0) -> dict:
    """Run ``processes`` busy loops pinned to one CPU and record when each really ran.

    Returns ``{"slices": {pid: [(start, end), ...]}, "seconds": ..., "cpu": ...}``
    (times in seconds from the common start).
    """
    import sys

    t0 = time.time() + 0.3
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN, str(cpu), str(seconds), str(t0)],
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    slices = {}
    for p in procs:
        out, _ = p.communicate(timeout=seconds * 20 + 20)
        data = json.loads(out)
        slices[data["pid"]] = [tuple(s) for s in data["slices"]]
    return {"slices": slices, "seconds": seconds, "cpu": cpu}


def time_multiplexing_summary(data: dict) -> dict:
    """What :func:`time_multiplexing` measured: each process's share of the CPU, and the slices' lengths (ms)."""
    lengths = [(b - a) * 1000 for slices in data["slices"].values() for a, b in slices]
    shares = {pid: sum(b - a for a, b in slices) / data["seconds"] for pid, slices in sorted(data["slices"].items())}
    return {"shares": shares, "together": sum(shares.values()), "slices": len(lengths),
            "median slice (ms)": statistics.median(lengths) if lengths else 0.0,
            "longest slice (ms)": max(lengths, default=0.0)}


def plot_time_multiplexing(data: dict, ax=None):
    """Gantt chart: which process held the CPU when."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(10, 2.6))[1]
    colors = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700"]
    for row, (pid, slices) in enumerate(sorted(data["slices"].items())):
        ax.broken_barh([(a * 1000, max(b - a, 1e-5) * 1000) for a, b in slices], (row - 0.4, 0.8),
                       color=colors[row % len(colors)])
        busy = sum(b - a for a, b in slices)
        ax.text(1.0, row, f" {busy / data['seconds']:.0%} of its time on the CPU",
                transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_yticks(range(len(data["slices"])), [f"pid {p}" for p in sorted(data["slices"])])
    ax.set_xlabel("time since start (ms)")
    ax.set_title(f"Multiplexing in time: {len(data['slices'])} processes share CPU {data['cpu']}")
    ax.figure.tight_layout()
    return ax


# --------------------------------------------------------------------------- multiplexing in space

def space_multiplexing() -> list[dict]:
    """One buffer at one virtual address in a parent and a forked child, written differently.

    Each process reports the virtual address, the content it sees, and (when
    readable, i.e. as root) the physical page frame behind it from /proc/self/pagemap.
    """
    buf = ctypes.create_string_buffer(4096)
    buf.value = b"written by the parent"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: write into "the same" memory
        try:
            buf.value = b"written by the child"
            os.write(w, repr(_describe(buf, "child")).encode())
        finally:
            os._exit(0)
    os.close(w)
    child_text = b""
    while chunk := os.read(r, 4096):
        child_text += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return [_describe(buf, "parent"), eval(child_text.decode())]  # noqa: S307 (our own repr of a dict)


def _describe(buf, who: str) -> dict:
    addr = ctypes.addressof(buf)
    frame = None
    try:
        with open("/proc/self/pagemap", "rb") as fh:
            fh.seek(addr // os.sysconf("SC_PAGE_SIZE") * 8)
            entry = int.from_bytes(fh.read(8), "little")
        frame = entry & ((1 << 55) - 1) if entry >> 63 else None
        frame = frame or None  # 0 means "not allowed to see it"
    except OSError:
        pass
    return {"process": who, "pid": os.getpid(), "virtual address": hex(addr),
            "content": buf.value.decode(), "physical frame": hex(frame) if frame else "(hidden: needs root)"}


# --------------------------------------------------------------------------- aggregation

class StripedVolume:
    """Aggregation: ``n`` files exposed as one byte-addressable volume (RAID 0 striping).

    Block ``i`` of the volume lives in file ``i % n`` at offset ``(i // n) * block``:
    the user sees one big device, the files each hold a share.
    """

    def __init__(self, folder: str | Path, members: int = 3, block: int = 4096):
        self.block = block
        self.paths = [Path(folder) / f"disk{i}.img" for i in range(members)]
        for p in self.paths:
            p.touch()

    def _where(self, index: int) -> tuple[Path, int]:
        return self.paths[index % len(self.paths)], (index // len(self.paths)) * self.block

    def write(self, offset: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            index, within = divmod(offset + pos, self.block)
            chunk = data[pos:pos + self.block - within]
            path, base = self._where(index)
            with open(path, "r+b") as fh:
                fh.seek(base + within)
                fh.write(chunk)
            pos += len(chunk)

    def read(self, offset: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            index, within = divmod(offset + len(out), self.block)
            path, base = self._where(index)
            with open(path, "rb") as fh:
                fh.seek(base + within)
                out += fh.read(min(self.block - within, size - len(out)))
        return bytes(out)

    def member_sizes(self) -> dict[str, int]:
        return {p.name: p.stat().st_size for p in self.paths}


# --------------------------------------------------------------------------- native vs guest

@dataclass
class Comparison:
    """Seconds per workload: native, TCG and (when it runs) KVM, plus what happened."""

    native: dict[str, float]
    tcg: dict[str, float]
    kvm: dict[str, float] = field(default_factory=dict)
    kvm_status: str = ""
    tcg_boot_seconds: float | None = None
    tcg_console: str = ""

    def ratios(self, accel: str = "tcg") -> dict[str, float]:
        other = self.tcg if accel == "tcg" else self.kvm
        return {w: other[w] / self.native[w] for w in other if self.native.get(w)}

    def findings(self) -> list[str]:
        """What this run measured, in sentences (only what was measured: no KVM claim without KVM numbers)."""
        tcg = self.ratios("tcg")
        lines = []
        if tcg:
            worst, best = max(tcg, key=tcg.get), min(tcg, key=tcg.get)
            lines.append(f"under TCG every workload ran {min(tcg.values()):.1f} to {max(tcg.values()):.1f} times "
                         f"slower than natively; {worst} suffered most (×{tcg[worst]:.1f}), {best} least "
                         f"(×{tcg[best]:.1f})")
        if self.kvm:
            kvm = self.ratios("kvm")
            lines.append("under KVM: " + ", ".join(f"{w} ×{r:.1f}" for w, r in kvm.items()) + " of native")
        else:
            lines.append(f"KVM could not be measured, so this run says nothing about its speed "
                         f"({self.kvm_status or 'not tried'})")
        return lines


def _workload_script() -> Path:
    path = Path(tempfile.gettempdir()) / f"wb-workload-{os.getuid()}.sh"
    # Another kernel of this user may be running the script right now: write a new file
    # and rename it over the old one, so that nobody ever reads a half-written script.
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(guest_mod.WORKLOAD)
    os.replace(tmp.name, path)
    return path


def native_workloads(names=WORKLOADS, repeat: int = 3) -> dict[str, float]:
    """Run the guest's workload script on the host with the same busybox binary (best of ``repeat``)."""
    script = _workload_script()
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    result = {}
    for name in names:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run([str(guest_mod.BUSYBOX), "sh", str(script), name], capture_output=True,
                           env=env, check=True, timeout=120)
            times.append(time.perf_counter() - t0)
        result[name] = min(times)
    return result


_RESULT = re.compile(r"WB-RESULT (\w+) ([\d.]+) ([\d.]+)")


def guest_workloads(accel: str = "tcg", names=WORKLOADS, timeout: float = 120) -> tuple[dict[str, float], guest_mod.QemuRun]:
    """Boot the tiny guest with ``accel`` and run the workloads inside (timed by the guest's clock)."""
    g = guest_mod.ensure()
    run = guest_mod.run_qemu(g, accel=accel, mode="bench", extra=f"wb.bench={','.join(names)}", timeout=timeout)
    if run.timed_out:
        raise WorkbookError(f"The guest under {accel} did not finish its workloads within {timeout:g} s "
                            f"(it was stopped): this accelerator does not work here.")
    found = {m.group(1): float(m.group(3)) - float(m.group(2)) for m in _RESULT.finditer(run.console)}
    missing = [n for n in names if n not in found]
    if missing:
        raise WorkbookError(f"The guest under {accel} did not report {', '.join(missing)}: its console "
                            f"ends with {run.console[-200:]!r}.")
    # The guest's clock ticks in 10 ms steps (/proc/uptime): never report zero.
    return {n: max(found[n], 0.005) for n in names}, run


def boot_seconds(console: str) -> float | None:
    """Guest uptime when its boot script started (from the ``WB-BOOTED`` line)."""
    m = re.search(r"WB-BOOTED guest uptime ([\d.]+)", console)
    return float(m.group(1)) if m else None


def compare_native_guest(names=WORKLOADS, *, try_kvm: bool = True) -> Comparison:
    """The same workloads natively, under TCG, and under KVM when a boot probe says it works."""
    native = native_workloads(names)
    tcg, run = guest_workloads("tcg", names)
    comp = Comparison(native, tcg, tcg_boot_seconds=boot_seconds(run.console), tcg_console=run.console)
    if not try_kvm:
        comp.kvm_status = "not tried (try_kvm=False)"
        return comp
    from helpers import envcheck
    probe = envcheck.kvm_probe()
    if not probe.get("ok"):
        comp.kvm_status = f"a KVM guest does not boot on this machine: {probe.get('reason')}"
        return comp
    try:
        comp.kvm, _ = guest_workloads("kvm", names, timeout=60)
        comp.kvm_status = "KVM works"
    except WorkbookError as exc:
        comp.kvm_status = str(exc)
    return comp


def plot_comparison(comp: Comparison, ax=None):
    """Grouped bars (log scale): seconds per workload natively, under TCG, under KVM."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(9, 4))[1]
    names = list(comp.native)
    series = [("native (host)", comp.native, "#1a7f37"), ("guest under TCG (binary translation)", comp.tcg, "#cf222e")]
    if comp.kvm:
        series.append(("guest under KVM (hardware assisted)", comp.kvm, "#0969da"))
    width = 0.8 / len(series)
    for k, (label, data, color) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [data.get(n, 0) for n in names], width, label=label, color=color)
        if data is not comp.native:
            ax.bar_label(bars, [f"×{data[n] / comp.native[n]:.1f}" for n in names], fontsize=8)
    ax.set_yscale("log")
    top = max(max(d.values()) for _, d, _ in series)
    ax.set_ylim(min(comp.native.values()) / 3, top * 8)   # room for the ratio labels and the legend
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("seconds (log scale)")
    ax.set_xlabel("workload (same busybox commands everywhere)")
    title = "The same work natively and inside a virtual machine"
    if not comp.kvm:
        title += "\n(KVM could not be measured on this machine: no KVM bars)"
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.figure.tight_layout()
    return ax


# --------------------------------------------------------------------------- exercise

#: The answers the taxonomy exercise expects.
TAXONOMY = {
    "a process scheduler giving each program a few milliseconds of CPU in turn": "multiplexing in time",
    "virtual memory giving each process its own pages of the same RAM": "multiplexing in space",
    "a RAID controller showing four disks as one volume": "aggregation",
    "QEMU showing an Intel e1000 network card that the host does not have": "emulation",
    "the Python interpreter running bytecode": "application level",
    "a Docker container": "operating-system level",
    "a QEMU/KVM virtual machine": "hardware level",
    "Xen or VMware ESXi running directly on the hardware": "type I",
    "VirtualBox running as a program on a desktop OS": "type II",
}


_ALIASES = {
    "multiplexing in time": {"time multiplexing", "temporal multiplexing", "multiplexing time"},
    "multiplexing in space": {"space multiplexing", "spatial multiplexing", "multiplexing space"},
    "aggregation": {"aggregate"},
    "emulation": {"emulate"},
    "application level": {"application", "app level"},
    "operating-system level": {"os level", "operating system level", "os", "operating system"},
    "hardware level": {"hardware"},
    "type I": {"type 1", "i", "1", "native", "bare metal"},
    "type II": {"type 2", "ii", "2", "hosted"},
}


def _norm(text) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", str(text).lower()).split())


#: What each answer is: a strategy, a level or a hypervisor type.
_KINDS = {
    "a strategy (multiplexing in time, multiplexing in space, aggregation, emulation)":
        ("multiplexing in time", "multiplexing in space", "aggregation", "emulation"),
    "an execution-virtualization level (application level, operating-system level, hardware level)":
        ("application level", "operating-system level", "hardware level"),
    "a hypervisor type (type I, type II)": ("type I", "type II"),
}

#: A question per example that leads to the answer without giving it.
_HINTS = {
    "a process scheduler giving each program a few milliseconds of CPU in turn":
        "does each program get a part of the CPU, or the whole CPU for a while?",
    "virtual memory giving each process its own pages of the same RAM":
        "is the memory shared by turns, or divided into pieces at the same moment?",
    "a RAID controller showing four disks as one volume":
        "one physical resource becomes many, or many become one?",
    "QEMU showing an Intel e1000 network card that the host does not have":
        "does the virtual card correspond to any physical card of the host?",
    "the Python interpreter running bytecode":
        "what does the bytecode VM imitate: a whole computer, an operating system, or a runtime for one program?",
    "a Docker container":
        "does a container bring its own kernel, or share the host's?",
    "a QEMU/KVM virtual machine":
        "the guest boots its own kernel: what must be imitated for that?",
    "Xen or VMware ESXi running directly on the hardware":
        "is there an operating system below the hypervisor?",
    "VirtualBox running as a program on a desktop OS":
        "is there an operating system below the hypervisor?",
}


def _kind(answer: str):
    """The kind of answer (strategy, level, type) that ``answer`` names, or None if it names none."""
    for kind, options in _KINDS.items():
        for option in options:
            if _norm(answer) in {_norm(option)} | {_norm(a) for a in _ALIASES.get(option, ())}:
                return kind
    return None


def check_taxonomy(answers: dict[str, str]) -> Verdict:
    """Exercise check: which classifications are right, case by case, with a question for each wrong one."""
    if not isinstance(answers, dict):
        raise WorkbookError(f"check_taxonomy expects a dict mapping each example to your answer, "
                            f"not a {type(answers).__name__}: keep the answers = {{...}} cell's layout.")
    v = Verdict("Exercise: classify what you have seen")
    given_any = [k for k in TAXONOMY if str(answers.get(k) or "").strip()]
    if not given_any:
        return v.not_attempted(f"none of the {len(TAXONOMY)} examples has an answer yet",
                               hint="fill in each empty string: a strategy (e.g. 'emulation'), a level "
                                    "(e.g. 'hardware level') or a hypervisor type ('type I' or 'type II')")
    for example, expected in TAXONOMY.items():
        given = answers.get(example)
        accepted = {_norm(expected)} | {_norm(a) for a in _ALIASES.get(expected, ())}
        wanted = _kind(expected)
        if given is None or not str(given).strip():
            v.fail(f"{example}: no answer yet", hint=f"“{example}” asks for {wanted}")
        elif _norm(given) in accepted:
            v.ok(f"{example} → {given}")
        elif _kind(given) is None:
            v.fail(f"{example} → {given!r} is not one of the answers",
                   hint=f"“{example}” asks for {wanted}")
        elif _kind(given) != wanted:
            v.fail(f"{example} → {given!r} is {_kind(given).split(' (')[0]}, but this one asks for {wanted}",
                   hint=f"“{example}”: {_HINTS[example]}")
        else:
            v.fail(f"{example} → {given!r} is not right", hint=f"“{example}”: {_HINTS[example]}")
    for k in answers:
        if k not in TAXONOMY:
            v.note(f"{k!r} is not one of the examples (was its text changed?); it is ignored")
    return v
