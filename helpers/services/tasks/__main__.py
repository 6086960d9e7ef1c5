"""``python -m helpers.services.tasks --host 0.0.0.0 --port 5000 --db /data/tasks.db``: run the service.

(``--db`` defaults to ``$TASKS_DB``; with neither, a temporary file is used.
``--no-seed`` starts with an empty collection.)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from helpers.services.tasks.app import create_app
from helpers.services.tasks.store import API_PREFIX


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.services.tasks",
                                     description="Run the reference RESTful tasks service.")
    parser.add_argument("--host", default=os.environ.get("TASKS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TASKS_PORT", os.environ.get("PORT", "5000"))))
    parser.add_argument("--db", default=os.environ.get("TASKS_DB") or None,
                        help="SQLite file (default $TASKS_DB, else a temporary file)")
    parser.add_argument("--no-seed", action="store_true", help="start a new database empty")
    args = parser.parse_args(argv)
    # As PID 1 in a container, Python ignores SIGTERM unless it handles it:
    # without this, `docker stop` would wait 10 s and then kill us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(args.db, seed=not args.no_seed)
    print(f"tasks service: database {app.config['TASKS_DB']}, http://{args.host}:{args.port}{API_PREFIX}/tasks",
          flush=True)
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
