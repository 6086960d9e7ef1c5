"""Widgets for the Docker lessons: the container lifecycle diagram and a containers dashboard.

* :func:`lifecycle_diagram` draws the states a container goes through and the
  commands that move it between them, with one state highlighted;
  :func:`show_lifecycle` reads the *real* state of a container from the engine first.
* :class:`ContainersDashboard` lists this session's containers (state, image,
  ports, networks) with start / stop / pause / unpause / restart / remove
  buttons, each the SDK's own method of the container (``c.pause()``).  It acts only on containers created by this notebook's session:
  everything else on the machine is left alone, even if asked.

Run headless (nbclient, nbconvert), the dashboard also renders as a static HTML table.
"""

from __future__ import annotations

import html

import ipywidgets as w

from helpers.containers import lifecycle, engine
from helpers.core import session
from helpers.containers.networks import short
from helpers.core.errors import WorkbookError, explain
from helpers.core.widgets import StaticFallback


# --- the lifecycle diagram -----------------------------------------------------------

#: Node positions of the diagram.  "image" is where every container starts.
_NODES = {"image": (0.0, 1.0), "created": (2.4, 1.0), "running": (5.2, 1.0), "paused": (5.2, 3.0),
          "exited": (8.6, 1.0), "removed": (5.2, -1.2)}
#: (from, to, command, start point, end point, label position) of each arrow; the points
#: sit on the boxes' edges (boxes are 1.7 wide and 0.76 high).
_EDGES = [
    ("image", "created", "create", (0.85, 1.0), (1.55, 1.0), (1.2, 1.2)),
    ("created", "running", "start", (3.25, 1.0), (4.35, 1.0), (3.8, 1.2)),
    ("running", "paused", "pause", (5.5, 1.38), (5.5, 2.62), (5.95, 2.0)),
    ("paused", "running", "unpause", (4.9, 2.62), (4.9, 1.38), (4.35, 2.0)),
    ("running", "exited", "stop / kill /\nprocess ends", (6.05, 1.15), (7.75, 1.15), (6.9, 1.6)),
    ("exited", "running", "start / restart", (7.75, 0.85), (6.05, 0.85), (6.9, 0.55)),
    ("created", "removed", "rm", (2.4, 0.62), (4.35, -1.05), (3.2, -0.35)),
    ("exited", "removed", "rm", (8.6, 0.62), (6.05, -1.05), (7.5, -0.35)),
    ("running", "removed", "rm -f", (5.2, 0.62), (5.2, -0.82), (5.55, -0.1)),
]
#: The words under each state's name, one line wide as the box; a description of two lines makes its
#: box grow downwards, away from the arrows that end on its top edge (a test checks that all fit).
_DESCRIPTIONS = {"created": "exists, never started", "running": "its processes run",
                 "paused": "processes frozen", "exited": "stopped; the files stay",
                 "removed": "gone, together with\nits writable layer", "image": "read-only template",
                 "restarting": "being restarted", "dead": "could not be removed"}
#: Box size in data units, and the height one more line of description adds.
_BOX_W, _BOX_H, _LINE_H = 1.7, 0.76, 0.26


def lifecycle_diagram(current: str | None, *, last: str | None = None, previous: str | None = None,
                      title: str | None = None, ax=None):
    """Draw the lifecycle with ``current`` highlighted (and the arrow of command ``last``,
    coming from state ``previous`` when it is known).

    ``current`` is a state as ``docker inspect`` names it (``created``, ``running``,
    ``paused``, ``exited``) or ``removed``; ``restarting`` highlights ``running``.
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    shown = {"restarting": "running", "dead": "exited"}.get(current or "", current)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(9, 4.4))
    else:
        fig = ax.figure
    for node, (x, y) in _NODES.items():
        hot = node == shown
        face = "#ffd54f" if hot else ("#f5f5f5" if node != "image" else "#e3f2fd")
        extra = _DESCRIPTIONS[node].count("\n") * _LINE_H
        ax.add_patch(FancyBboxPatch((x - _BOX_W / 2, y - _BOX_H / 2 - extra), _BOX_W, _BOX_H + extra,
                                    boxstyle="round,pad=0.04", facecolor=face, edgecolor="black",
                                    linewidth=2.5 if hot else 1, gid=f"box:{node}"))
        ax.text(x, y + 0.1, node, ha="center", va="center", fontsize=11, fontweight="bold" if hot else None,
                gid=f"name:{node}")
        ax.text(x, y - 0.07 if extra else y - 0.2, _DESCRIPTIONS[node], ha="center",
                va="top" if extra else "center", fontsize=8, color="#444", gid=f"text:{node}", linespacing=1.15)
    last_cmds = {c.strip() for c in (last or "").replace("/", " ").split()} if last else set()
    if "remove" in last_cmds:
        last_cmds.add("rm")
    for src, dst, cmd, p1, p2, (mx, my) in _EDGES:
        words = {c.strip() for c in cmd.replace("/", " ").split()}
        hot = (bool(last_cmds & words) and (shown == dst or last == "create")
               and (previous is None or previous == src))
        colour = "#d84315" if hot else "#555"
        ax.add_patch(FancyArrowPatch(p1, p2, arrowstyle="-|>", mutation_scale=14, color=colour,
                                     linewidth=2.4 if hot else 1.1,
                                     linestyle="--" if cmd == "rm -f" else "-"))
        ax.text(mx, my, cmd, ha="center", va="center", fontsize=8, color=colour,
                fontweight="bold" if hot else None,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.text(1.2, -1.0, "docker run = create + start\nrestart = stop + start", ha="center", fontsize=8,
            style="italic")
    ax.set_xlim(-1.0, 9.6)
    ax.set_ylim(-2.0, 3.6)
    ax.set_axis_off()
    ax.set_title(title or f"Container lifecycle — current state: {current}"
                 + (f" (after {last})" if last else ""), fontsize=11)
    if own:
        fig.tight_layout()
        plt.close(fig)
    return fig


def _state_now(ref) -> str:
    """The container's state as the engine reports it now; ``removed`` when it no longer exists."""
    import docker.errors

    try:
        return engine.client().containers.get(getattr(ref, "id", ref)).status
    except docker.errors.NotFound:
        return "removed"


def show_lifecycle(ref, last: str | None = None, previous: str | None = None):
    """The lifecycle diagram with the state the engine reports *now* for container ``ref``
    (``last``: the command just run, ``previous``: the state before it, to highlight its arrow)."""
    current = _state_now(ref)
    label = short(getattr(ref, "name", None) or str(ref))
    return lifecycle_diagram(current, last=last, previous=previous, title=f"{label}: {current}" + (f" (after docker {last})"
                                                                                if last else ""))


# --- the containers dashboard ---------------------------------------------------------

#: Which actions a container in each state accepts (the engine refuses the rest).
ACTIONS = {
    "start": ("created", "exited"),
    "stop": ("running", "restarting"),
    "pause": ("running",),
    "unpause": ("paused",),
    "restart": ("running", "exited", "created"),
    "remove": ("created", "exited", "dead"),
}
_BADGE = {"running": "#2e7d32", "paused": "#f9a825", "created": "#1565c0", "exited": "#757575",
          "restarting": "#ef6c00", "dead": "#c62828"}


def _row(c) -> dict:
    nets = sorted((c.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    return {"name": c.name, "id": c.short_id, "image": lifecycle.image_name(c), "state": c.status,
            "ports": lifecycle.port_lines(c), "networks": [short(n) for n in nets]}


class ContainersDashboard(StaticFallback, w.VBox):
    """This session's containers with buttons that drive their lifecycle.

    ``dashboard.act(name, "pause")`` does what the button does (and is what
    tests use).  Containers of other sessions or created outside the workbook
    are refused, whatever is asked.
    """

    def __init__(self, *, show_diagram: bool = True):
        super().__init__()
        self._message = w.HTML()
        self._rows = w.VBox()
        self._refresh_button = w.Button(description="Refresh", icon="refresh",
                                        layout=w.Layout(width="110px"))
        self._refresh_button.on_click(lambda _b: self.refresh())
        self._diagram = w.Output() if show_diagram else None
        self.buttons: dict[tuple[str, str], w.Button] = {}
        self.rows: list[dict] = []
        head = w.HTML("<b>Containers of this notebook</b> (session "
                      f"<code>{session.SESSION_ID}</code>) — the buttons act on these only.")
        self.children = [w.HBox([head, self._refresh_button]), self._rows, self._message] + (
            [self._diagram] if self._diagram is not None else [])
        self.refresh()

    # what the engine says now
    def refresh(self) -> list[dict]:
        cli = engine.client()
        found = cli.containers.list(all=True, filters=engine.session_filter(), ignore_removed=True)
        self.rows = [_row(c) for c in sorted(found, key=lambda c: c.name)]
        self.buttons = {}
        lines = []
        for r in self.rows:
            colour = _BADGE.get(r["state"], "#000")
            info = w.HTML(
                f"<code>{html.escape(short(r['name']))}</code> <small>{r['id']}</small> · "
                f"{html.escape(r['image'])} · <b style='color:{colour}'>{r['state']}</b>"
                f" · ports: {html.escape(', '.join(r['ports']) or '—')}"
                f" · networks: {html.escape(', '.join(r['networks']) or '—')}",
                layout=w.Layout(width="52%"))
            btns = []
            for action, states in ACTIONS.items():
                b = w.Button(description=action, layout=w.Layout(width="84px", padding="0 2px"),
                             disabled=r["state"] not in states,
                             button_style="danger" if action == "remove" else "")
                b.on_click(lambda _b, n=r["name"], a=action: self._clicked(n, a))
                self.buttons[(r["name"], action)] = b
                btns.append(b)
            lines.append(w.HBox([info] + btns))
        if not lines:
            lines = [w.HTML("<i>No containers in this session yet.</i>")]
        self._rows.children = lines
        return self.rows

    def act(self, ref, action: str) -> str:
        """Apply ``action`` (start, stop, pause, unpause, restart, remove) to a container of this
        session with the SDK's own method (``container.pause()``...); returns the sentence shown
        under the table."""
        import docker.errors

        if action not in ACTIONS:
            raise WorkbookError(f"Unknown action {action!r}; the dashboard knows: {', '.join(ACTIONS)}.")
        try:
            c = engine.client().containers.get(getattr(ref, "id", ref))
            if not engine.owned(c):
                msg = (f"Refused: {c.name} was not created by this notebook's session, so the dashboard "
                       f"leaves it alone.")
            else:
                before = c.status
                if action in ("stop", "restart"):
                    getattr(c, action)(timeout=2)  # docker stop -t 2: SIGKILL after 2 s, not the default 10
                else:
                    getattr(c, action)()
                msg = f"docker {action} {short(c.name)}: now {_state_now(c.name)}."
                self._draw(c.name, action, before)
        except docker.errors.NotFound:
            msg = f"There is no container called {ref!r} (any more): press Refresh."
        except docker.errors.APIError as exc:
            msg = explain(exc) or str(exc)
        self._message.value = f"<span>{html.escape(msg)}</span>"
        self.refresh()
        return msg

    def _clicked(self, name: str, action: str) -> None:
        self.act(name, action)

    def _draw(self, name: str, action: str, previous: str | None = None) -> None:
        if self._diagram is None:
            return
        from IPython.display import display

        self._diagram.clear_output(wait=True)
        with self._diagram:
            display(show_lifecycle(name, last=action, previous=previous))

    def _static_html(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("name", "id", "image", "state", "ports", "networks"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                short(r["name"]), r["id"], r["image"], r["state"], ", ".join(r["ports"]) or "—",
                ", ".join(r["networks"]) or "—")) + "</tr>" for r in self.rows)
        if not self.rows:
            body = "<tr><td colspan=6><i>No containers in this session yet.</i></td></tr>"
        return (f"<div><b>Containers of this notebook</b> (session <code>{session.SESSION_ID}</code>; "
                f"static view — run the notebook to get the buttons)<table><tr>{head}</tr>{body}</table></div>")


def dashboard(**kwargs) -> ContainersDashboard:
    """A :class:`ContainersDashboard` for this session's containers."""
    return ContainersDashboard(**kwargs)
