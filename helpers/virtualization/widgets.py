"""libvirt widgets: the domain lifecycle panel, and pool and network views.

* :func:`draw_lifecycle` -- the chapter's lifecycle diagram (undefined, defined,
  running, paused, saved) with the current state highlighted and the
  transitions allowed from it drawn in colour.
* :class:`LifecyclePanel` -- buttons for every lifecycle operation (only the
  allowed ones are enabled), the diagram, the domain's details and, for a real
  guest, the tail of its serial console.  ``panel.do("suspend")`` drives it
  from code.  Headless, it shows a static HTML copy of its state.
* :func:`plot_volumes`, :func:`plot_pools` -- capacity versus allocation.
* :func:`plot_networks` -- the session's virtual networks and the guests on them.

They show this session's objects (by name), and leave out one that another session removes
while they read it (see :func:`helpers.virtualization.connection.each_present`).
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
import xml.etree.ElementTree as ET

import ipywidgets as w
import libvirt

from helpers.core.errors import WorkbookError, explain
from helpers.core.session import resource_name
from helpers.virtualization import console, domains, networks, storage
from helpers.virtualization.connection import each_present, is_real, mine

STATES = {  # position in the diagram
    "undefined": (0.0, 1.0),
    "defined": (3.0, 1.0),
    "running": (6.0, 1.0),
    "paused": (9.0, 2.0),
    "saved": (9.0, 0.0),
}
COLORS = {"undefined": "#6e7781", "defined": "#0969da", "running": "#1a7f37", "paused": "#bf8700",
          "saved": "#8250df"}

# Each drawn edge: (from, to, label, curvature).  Several operations may share an edge.
_EDGES = [
    ("undefined", "defined", "define", 0.25),
    ("defined", "undefined", "undefine", 0.25),
    ("undefined", "running", "create (transient)", -0.35),
    ("defined", "running", "start", 0.25),
    ("running", "defined", "shutdown / destroy", 0.25),
    ("running", "paused", "suspend", 0.2),
    ("paused", "running", "resume", 0.2),
    ("running", "saved", "save", -0.2),
    ("saved", "running", "restore", -0.2),
    ("paused", "saved", "save", 0.0),
    ("paused", "defined", "destroy", 0.35),
]


def _ops_of(label: str) -> set[str]:
    return {p.strip().split(" ")[0] for p in label.split("/")}


def draw_lifecycle(state: str, ax=None, last_op: str | None = None):
    """Draw the lifecycle; ``state`` is highlighted, allowed transitions are coloured."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 3.4))
    allowed = set(domains.allowed(state)) | ({"create", "define"} if state == "undefined" else set())
    for src, dst, label, rad in _EDGES:
        ops = _ops_of(label)
        live = src == state and bool(ops & allowed)
        (x1, y1), (x2, y2) = STATES[src], STATES[dst]
        arrow = FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                mutation_scale=14, shrinkA=34, shrinkB=34, lw=2.4 if live else 1.0,
                                color=COLORS[state] if live else "#c8ccd0", zorder=1)
        ax.add_patch(arrow)
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        dx, dy = x2 - x1, y2 - y1
        # put the label beside the curve's middle
        ox, oy = dy * rad * 0.5, -dx * rad * 0.5  # where matplotlib's arc3 curve peaks
        ax.text(mx + ox, my + oy, label, ha="center", va="center", fontsize=7.5,
                color="#24292f" if live else "#8c959f", fontweight="bold" if live else "normal",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85), zorder=3)
    for s, (x, y) in STATES.items():
        current = s == state
        box = FancyBboxPatch((x - 0.75, y - 0.28), 1.5, 0.56, boxstyle="round,pad=0.05",
                             fc=COLORS[s] if current else "white", ec=COLORS[s], lw=2.5 if current else 1.2,
                             zorder=2)
        ax.add_patch(box)
        ax.text(x, y, s.capitalize(), ha="center", va="center", fontsize=10,
                color="white" if current else COLORS[s], fontweight="bold", zorder=4)
    ax.set_xlim(-1, 10)
    ax.set_ylim(-0.6, 2.9)
    ax.axis("off")
    title = f"Domain lifecycle: now {state.upper()}"
    if last_op:
        title += f" (after {last_op})"
    ax.set_title(title + f" — allowed: {', '.join(sorted(allowed)) or 'nothing'}", fontsize=10)
    return ax


def lifecycle_png(state: str, last_op: str | None = None) -> bytes:
    """The diagram as PNG bytes (rendered off-screen, so nothing is displayed twice)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), dpi=90)
    draw_lifecycle(state, fig.add_subplot(), last_op)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def show_lifecycle(state: str, last_op: str | None = None) -> None:
    """Display the diagram as a static figure (for narrative cells)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.4))
    draw_lifecycle(state, ax, last_op)
    fig.tight_layout()
    plt.show()


class LifecyclePanel(w.VBox):
    """Buttons + state diagram + details for one session domain.

    ``xml`` is used by *define* and *create*; by default the tiny guest (or a
    test-driver stub) from :func:`helpers.virtualization.domains.domain_xml`.
    Each button makes the libvirt call its tooltip names.
    """

    OPERATIONS = ["define", "create", "start", "shutdown", "destroy", "suspend", "resume", "save",
                  "restore", "undefine"]

    def __init__(self, conn, base: str = "panel", xml: str | None = None):
        self.conn = conn
        self.dom_name = resource_name(base)
        self.xml = xml or domains.domain_xml(conn, base)
        self.last_op: str | None = None
        self.message = ""
        self.buttons = {op: w.Button(description=op, layout=w.Layout(width="88px"),
                                     tooltip=self._tooltip(op)) for op in self.OPERATIONS}
        for op, b in self.buttons.items():
            b.on_click(lambda _b, op=op: self._click(op))
        self.image = w.Image(format="png", layout=w.Layout(width="760px"))
        self.details = w.HTML()
        self.console = w.HTML()
        super().__init__([w.HBox(list(self.buttons.values()), layout=w.Layout(flex_flow="row wrap")),
                          self.image, self.details, self.console])
        self.refresh()

    @staticmethod
    def _tooltip(op: str) -> str:
        for name, _src, _dst, cmd, call in domains.TRANSITIONS:
            if name == op:
                return f"{call}  ≡  {cmd}"
        return op

    @property
    def state(self) -> str:
        return domains.lifecycle_state(self.conn, self.dom_name)

    def _dom(self):
        return self.conn.lookupByName(self.dom_name)

    def do(self, op: str) -> str:
        """Run lifecycle operation ``op`` (raises one sentence if not allowed); returns the new state."""
        if op not in self.OPERATIONS:
            raise WorkbookError(f"Unknown operation {op!r}: choose one of {', '.join(self.OPERATIONS)}.")
        state = self.state
        allowed = set(domains.allowed(state)) | ({"create", "define"} if state == "undefined" else set())
        if op not in allowed:
            raise WorkbookError(f"Cannot {op} {self.dom_name} while it is {state}: from {state} the "
                                f"lifecycle allows {', '.join(sorted(allowed)) or 'nothing'}.")
        t0 = time.monotonic()
        self.message = ""
        image = str(domains.save_path(self.dom_name))
        if op == "define":
            self.conn.defineXML(self.xml)
        elif op == "create":
            self.conn.createXML(self.xml, 0)
        elif op == "restore":
            self.conn.restore(image)
            os.unlink(image)                       # the image has served its purpose
        elif op == "save":
            self._dom().save(image)
        elif op == "shutdown":
            dom = self._dom()
            if is_real(self.conn):
                from helpers.virtualization import guest
                # A guest still booting has no ACPI handler yet: wait for its prompt first.
                console.wait_console(dom, guest.PROMPT, timeout=90)
            dom.shutdown()
            if not domains.wait_shut_off(dom, timeout=60):
                dom.destroy()
                self.message = "the guest ignored the ACPI request for 60 s: destroy pulled the plug; "
        elif op == "start":
            self._dom().create()
        else:                                      # destroy, suspend, resume, undefine: dom.<op>()
            getattr(self._dom(), op)()
        self.last_op = op
        self.message += f"{op} took {time.monotonic() - t0:.2f} s"
        self.refresh()
        return self.state

    def _click(self, op: str):
        try:
            self.do(op)
        except (WorkbookError, libvirt.libvirtError) as exc:
            self.message = f"<span style='color:#cf222e'>⚠ {html.escape(explain(exc) or str(exc))}</span>"
            self.refresh()

    def refresh(self) -> None:
        state = self.state
        allowed = set(domains.allowed(state)) | ({"create", "define"} if state == "undefined" else set())
        for op, b in self.buttons.items():
            b.disabled = op not in allowed
            b.button_style = "success" if op in allowed else ""
        self.image.value = lifecycle_png(state, self.last_op)
        self.details.value = self._details_html(state)
        self.console.value = self._console_html()

    def _details_html(self, state: str) -> str:
        rows = [("domain", self.dom_name), ("lifecycle state", state)]
        try:
            info = domains.domain_info(self._dom())
            rows += [(k, info[k]) for k in ("ID", "state", "persistent", "memory (KiB)", "CPU time (s)")]
        except libvirt.libvirtError:
            pass
        image = domains.save_path(self.dom_name)
        if image.exists():
            rows.append(("saved image", f"{image} ({image.stat().st_size / 2**20:.1f} MiB)"))
        cells = "".join(f"<tr><th style='text-align:left;padding-right:10px'>{html.escape(str(k))}</th>"
                        f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        msg = f"<div>{self.message}</div>" if self.message else ""
        return f"<table>{cells}</table>{msg}"

    def _console_html(self) -> str:
        if not is_real(self.conn):
            return ("<i>test:///default simulates the domain without a guest OS: there is no console "
                    "to show.</i>")
        text = console.console_text(self.dom_name) or ""
        tail = "\n".join(text.strip().splitlines()[-10:])
        return ("<b>serial console (last lines)</b><pre style='background:#0d1117;color:#e6edf3;"
                f"padding:6px;max-height:14em;overflow:auto'>{html.escape(tail) or '(empty)'}</pre>")

    def _static_html(self) -> str:
        png = base64.b64encode(self.image.value).decode()
        return (f"<div><img src='data:image/png;base64,{png}' style='max-width:760px'/>"
                f"{self.details.value}{self.console.value}</div>")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/html"] = self._static_html()
        return bundle


# --------------------------------------------------------------------------- storage views

def plot_volumes(pool, ax=None):
    """Horizontal bars: each volume's capacity (what the guest sees) and allocation (host disk used).

    The axis is logarithmic: a new thin qcow2 file allocates a few hundred KiB for a
    capacity of hundreds of MiB, and on a linear axis its allocation bar would vanish.
    """
    import matplotlib.pyplot as plt

    rows = storage.volume_rows(pool)
    ax = ax or plt.subplots(figsize=(9, 0.6 * max(len(rows), 1) + 1.6))[1]
    names = [r["name"] for r in rows]
    ys = range(len(rows))
    smallest = min([r["allocation (MiB)"] for r in rows if r["allocation (MiB)"] > 0], default=0.01)
    left = smallest / 4
    ax.barh([y + 0.2 for y in ys], [r["capacity (MiB)"] - left for r in rows], 0.4, left=left,
            label="capacity (virtual size)", color="#0969da")
    ax.barh([y - 0.2 for y in ys], [max(r["allocation (MiB)"], left) - left for r in rows], 0.4, left=left,
            label="allocation (bytes really used on the host)", color="#cf222e")
    for y, r in zip(ys, rows):
        ax.text(r["capacity (MiB)"], y + 0.2, f" {r['capacity (MiB)']:.0f} MiB", va="center", fontsize=8)
        ax.text(max(r["allocation (MiB)"], left), y - 0.2, f" {r['allocation (MiB)']:.2f} MiB", va="center", fontsize=8)
    ax.set_xscale("log")
    biggest = max([r["capacity (MiB)"] for r in rows] + [1])
    ax.set_xlim(left, biggest * 8)       # room for the labels
    ax.set_yticks(list(ys), names, fontsize=8)
    thin = bool(rows) and all(r["allocation (MiB)"] < r["capacity (MiB)"] / 10 for r in rows)
    ax.set_xlabel("MiB (log scale" + (": allocation and capacity differ by orders of magnitude)" if thin else ")"))
    ax.set_title(f"Volumes of pool {pool.name()}: " + ("thin files promise more than they use" if thin
                 else "allocation against capacity"))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.figure.tight_layout()
    return ax


def plot_pools(conn, ax=None, *, session_only: bool = True):
    """Capacity, allocation and free space of this session's running pools (every pool's with ``session_only=False``), GiB.

    Each bar is annotated with what the pool's own volumes allocate: a directory pool
    reports the numbers of the file system its directory is on (like ``df``), so its
    allocation counts everything stored there, not only its volumes.
    """
    import matplotlib.pyplot as plt

    rows = [r for r in storage.pool_rows(conn, session_only=session_only) if r["state"] == "running"]
    ax = ax or plt.subplots(figsize=(9, 0.6 * max(len(rows), 1) + 1.9))[1]
    ys = list(range(len(rows)))
    ax.barh(ys, [r["allocation (GiB)"] for r in rows], color="#cf222e", label="allocation (pool.info())")
    ax.barh(ys, [r["available (GiB)"] for r in rows], left=[r["allocation (GiB)"] for r in rows],
            color="#d0d7de", label="available")
    for y, r in zip(ys, rows):
        ax.text(r["allocation (GiB)"] + r["available (GiB)"] * 0.02, y,
                f"{r['allocation (GiB)']:.2f} GiB allocated; of it, this pool's {r['volumes']} volume(s): "
                f"{_pool_volume_mib(conn, r['name']):.2f} MiB", va="center", fontsize=8)
    ax.set_yticks(ys, [r["name"] for r in rows], fontsize=8)
    ax.set_xlabel("GiB (capacity = allocation + available, from pool.info())")
    ax.set_title("Storage pools on " + conn.getURI() + (
        "\n(a directory pool reports its file system: allocation counts every file on it)" if is_real(conn) else ""))
    ax.legend(fontsize=8, loc="lower right")
    ax.figure.tight_layout()
    return ax


def _pool_volume_mib(conn, pool_name: str) -> float:
    try:
        return sum(r["allocation (MiB)"] for r in storage.volume_rows(conn.storagePoolLookupByName(pool_name)))
    except libvirt.libvirtError:
        return 0.0


# --------------------------------------------------------------------------- network view

def _attachments(conn) -> dict[str, list[str]]:
    """Network name -> this session's domains with a card on it (from each domain's XML)."""
    def cards(d):
        root = ET.fromstring(d.XMLDesc(0))
        return [(src.get("network"), d.name()) for src in root.findall("devices/interface/source")
                if src.get("network")]

    found: dict[str, list[str]] = {}
    doms = [d for d in conn.listAllDomains(0) if mine(d)]
    for pairs in each_present(doms, cards, libvirt.VIR_ERR_NO_DOMAIN):
        for net_name, dom_name in pairs:
            found.setdefault(net_name, []).append(dom_name)
    return found


def plot_networks(conn, names: list[str] | None = None, ax=None):
    """Each network as a virtual switch (mode, bridge, subnet) with the guests plugged into it.

    ``names`` chooses the networks; by default, this session's.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    summaries = networks.network_rows(conn, names)
    attached = _attachments(conn)
    ax = ax or plt.subplots(figsize=(10, 1.6 + 1.4 * max(len(summaries), 1)))[1]
    mode_color = {"nat": "#0969da", "route": "#1a7f37", "isolated": "#8250df", "bridge": "#bf8700"}
    for row, s in enumerate(summaries):
        y = -row * 1.4
        color = mode_color.get(s["mode"], "#6e7781")
        ax.add_patch(FancyBboxPatch((0, y - 0.4), 4.2, 0.8, boxstyle="round,pad=0.05", fc="white", ec=color, lw=2))
        ax.text(2.1, y + 0.15, f"{s['name']}", ha="center", fontsize=8.5, fontweight="bold", color=color)
        ax.text(2.1, y - 0.2, f"mode {s['mode']} · bridge {s['bridge']} · {s['address']} · "
                f"{'active' if s['active'] else 'inactive'}", ha="center", fontsize=7.5)
        outside = {"nat": "outside world\n(through the host's IP, NAT)",
                   "route": "host's LAN\n(routed, no NAT)", "isolated": "(no way out:\nguests and host only)"}
        ax.annotate(outside.get(s["mode"], s["mode"]), xy=(4.25, y), xytext=(5.2, y), va="center", fontsize=7.5,
                    arrowprops=dict(arrowstyle="<->" if s["mode"] != "isolated" else "-", color=color,
                                    ls="-" if s["mode"] != "isolated" else ":"))
        for k, dom in enumerate(attached.get(s["name"], [])):
            ax.annotate(dom, xy=(1.0 + k * 1.2, y - 0.42), xytext=(1.0 + k * 1.2, y - 0.85), ha="center",
                        fontsize=7.5, arrowprops=dict(arrowstyle="-", color="#24292f"),
                        bbox=dict(boxstyle="round", fc="#f6f8fa", ec="#24292f"))
    ax.set_xlim(-0.3, 7.5)
    ax.set_ylim(-1.4 * max(len(summaries), 1) + 0.2, 0.8)
    ax.axis("off")
    ax.set_title(f"Virtual networks (switches) on {conn.getURI()} and the guests attached to them")
    ax.figure.tight_layout()
    return ax


def table_html(headers: list[str], rows: list[list], code_columns: tuple[int, ...] = ()) -> str:
    """A small left-aligned HTML table (JupyterLab right-aligns table cells by default).

    Values are escaped; the columns listed in ``code_columns`` are shown as code.
    """
    def cell(tag, i, value):
        text = html.escape(str(value)).replace("\n", "<br>")      # keep multi-line output readable
        if i in code_columns:
            text = f"<code style='white-space:nowrap'>{text}</code>"
        return f"<{tag} style='text-align:left;vertical-align:top'>{text}</{tag}>"
    head = "".join(cell("th", -1, h) for h in headers)
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def network_table_html(conn, names: list[str] | None = None) -> str:
    """``virsh net-list --all`` as an HTML table, with mode and addresses (``names``, else this session's networks)."""
    rows = networks.network_rows(conn, names)
    keys = ["name", "active", "persistent", "mode", "bridge", "address"]
    return table_html(keys, [[r[k] for k in keys] for r in rows])
