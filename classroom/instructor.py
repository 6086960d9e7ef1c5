"""The instructor's view of the class (scripts/classroom.sh status): every student of the hub,
whether their server runs, and which exercises pass, read from each student's work volume.

It asks the hub's REST API with the read-only token of the ``instructor-view`` service (made by
classroom/jupyterhub_config.py in the state folder) and reads ``progress.jsonl`` from the
volumes ``<prefix>-<student>-work`` on this host (root: the volumes' folders are root's).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WORKBOOK_NO_SWEEP", "1")  # a report, not a notebook: it cleans nothing

from helpers.core import progress  # noqa: E402


def main() -> int:
    state = Path(os.environ.get("WORKBOOK_CLASS_STATE", ROOT / ".workbook" / "classroom"))
    prefix = os.environ.get("WORKBOOK_CLASS_PREFIX", "cloud-workbook-class")
    url = f"http://127.0.0.1:{os.environ.get('WORKBOOK_CLASS_PORT', '8000')}/hub/api"
    try:
        token = (state / "instructor_view_token").read_text().strip()
        users = requests.get(f"{url}/users", headers={"Authorization": f"token {token}"}, timeout=10)
        users.raise_for_status()
    except OSError:
        print(f"No classroom state in {state}: start the hub first (make classroom).", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"The hub at {url} did not answer ({exc.__class__.__name__}): is make classroom running?",
              file=sys.stderr)
        return 1
    volumes = progress.volume_folders(prefix)
    catalogue = progress.exercises()
    table = progress.class_table({u["name"]: volumes.get(u["name"], Path("/nonexistent"))
                                  for u in users.json() if not u.get("admin")}, catalogue)
    for user in users.json():
        server = user.get("servers", {}).get("")
        running = "running" if server and server.get("ready") else ("starting" if server else "stopped")
        print(f"{user['name']:<16} {'admin' if user.get('admin') else 'student':<8} server {running:<9} "
              f"last activity {user.get('last_activity') or '-'}")
    print()
    print(progress.class_text(table, catalogue))
    print(f"plot: {progress.class_plot(table, catalogue, ROOT / 'artifacts' / 'class-progress.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
