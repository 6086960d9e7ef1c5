"""What ``docker compose events --json`` reported, in short lines.

Notebook 14 runs ``docker compose … events --json > events.jsonl &`` in a ``%%bash``
cell while it restarts a service; :func:`read` parses that file (one JSON event a line,
the tool's warning lines skipped) and :func:`summary` turns one event into a line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: The attributes worth showing for an event, when it has them.
_DETAILS = ("signal", "exitCode")


def read(source: str | os.PathLike) -> list[dict]:
    """The events of a file written by ``docker compose events --json``, in order."""
    found = []
    for line in Path(source).read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a warning line of the tool, not an event
        if isinstance(event, dict):
            found.append(event)
    return found


def summary(event: dict) -> str:
    """One short line for an event: the time (to the millisecond), the object's type, the action,
    the container's name and the attributes that explain it (the signal of a ``kill``, the exit
    code of a ``die``)."""
    attrs = event.get("attributes") or {}
    when = str(event.get("time", ""))
    clock = when[11:23] if len(when) >= 23 else when
    action = str(event.get("action", "?"))
    if ": " in action:  # `exec_start: bash -c ...`, `health_status: healthy`: keep the first words
        verb, _, rest = action.partition(": ")
        action = f"{verb}: {rest if len(rest) <= 20 else rest[:19] + '…'}"
    details = ", ".join(f"{k}={attrs[k]}" for k in _DETAILS if k in attrs)
    name = attrs.get("name") or str(event.get("id", ""))[:12]
    return f"{clock}  {event.get('type', '?'):9} {action:16} {name}" + (f"  ({details})" if details else "")
