"""The lifecycle diagram and the containers dashboard, on real containers."""

from __future__ import annotations

import pytest

from helpers.containers import engine
from helpers.containers import widgets as W
from helpers.containers.base_images import ensure_image
from helpers.core.session import labels, resource_name

pytestmark = pytest.mark.docker



@pytest.fixture(scope="module", autouse=True)
def _debian():
    ensure_image("debian", quiet=True)


def _state(ref) -> str:
    """docker inspect -f '{{.State.Status}}' REF, or "removed"."""
    import docker.errors

    try:
        return engine.client().containers.get(ref).status
    except docker.errors.NotFound:
        return "removed"


def _highlighted(fig) -> str:
    """The node drawn with the thick border (the current state)."""
    from matplotlib.patches import FancyBboxPatch

    ax = fig.axes[0]
    hot = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_linewidth() > 2]
    assert len(hot) == 1
    return hot[0].get_gid().removeprefix("box:")


@pytest.mark.parametrize("state", ["created", "running", "paused", "exited", "removed"])
def test_every_label_of_the_lifecycle_diagram_stays_inside_its_box(state):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = W.lifecycle_diagram(state, last="remove" if state == "removed" else None)
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    boxes = {p.get_gid()[4:]: p.get_window_extent(renderer) for p in ax.patches if (p.get_gid() or "").startswith("box:")}
    assert set(boxes) == set(W._NODES)
    for t in ax.texts:
        kind, _, node = (t.get_gid() or "").partition(":")
        if kind in ("name", "text"):
            inner, outer = t.get_window_extent(renderer), boxes[node]
            assert outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1, \
                f"{t.get_text()!r} spills out of the {node} box"


def test_lifecycle_diagram_follows_the_real_state():
    c = engine.client().containers.create("debian", ["sleep", "infinity"], name=resource_name("t-w-life"),
                                          labels=labels())
    assert _highlighted(W.show_lifecycle(c)) == "created"
    c.start()
    assert _highlighted(W.show_lifecycle(c, last="start")) == "running"
    c.pause()
    assert _highlighted(W.show_lifecycle(c, last="pause")) == "paused"
    c.unpause()
    c.stop(timeout=0)
    assert _highlighted(W.show_lifecycle(c, last="stop")) == "exited"
    c.remove()
    fig = W.show_lifecycle(c.name, last="remove")
    assert _highlighted(fig) == "removed" and "removed" in fig.axes[0].get_title()


def test_dashboard_lists_and_acts_on_session_containers():
    c = engine.client().containers.run("debian", ["sleep", "infinity"], name=resource_name("t-w-dash"), detach=True,
                                       labels=labels())
    d = W.dashboard(show_diagram=False)
    row = next(r for r in d.rows if r["name"] == c.name)
    assert row["state"] == "running" and row["image"] == "debian" and row["networks"] == ["bridge"]
    assert not d.buttons[(c.name, "pause")].disabled and d.buttons[(c.name, "unpause")].disabled
    d.buttons[(c.name, "pause")].click()
    assert _state(c.id) == "paused"
    assert "now paused" in d.act(c.name, "pause") or "already paused" in d.act(c.name, "pause")
    assert d.act(c.name, "unpause").endswith("now running.")
    assert d.act(c.name, "stop").endswith("now exited.")
    d.buttons[(c.name, "remove")].click()
    assert _state(c.name) == "removed" and all(r["name"] != c.name for r in d.rows)
    bundle = d._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


def test_dashboard_refuses_foreign_containers():
    cli = engine.client()
    foreign = cli.containers.run("debian", ["sleep", "60"], detach=True,
                                 labels={"org.cloud-workbook": "1", "org.cloud-workbook.session": "00000000"})
    try:
        d = W.dashboard(show_diagram=False)
        assert all(r["name"] != foreign.name for r in d.rows)
        msg = d.act(foreign.id, "stop")
        assert msg.startswith("Refused") and _state(foreign.id) == "running"
        assert "no container called" in d.act("no-such-container-wb", "stop")
    finally:
        try:
            foreign.remove(force=True)
        except Exception:  # another kernel's sweep may have removed it already
            pass
