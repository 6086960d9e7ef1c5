"""Helpers for the cloud-computing workbook.

``import helpers`` starts this kernel's *session* (see :mod:`helpers.core.session`)
and removes what earlier sessions left behind when their kernel died.
Each part of the chapter is a sub-package, imported on demand::

    helpers/core/            session, clean-up, errors, leases, servers, verdict, widget base
    helpers/services/        notebooks 01-06 (services, HTTP, Flask, REST, consuming)
    helpers/virtualization/  notebooks 07-08 (virtualization, libvirt)
    helpers/containers/      notebooks 09-12 (Docker: containers, networks, storage, images)
    helpers/orchestration/   notebooks 13-15 (swarm, Compose)
    helpers/envcheck.py      what this machine can run (notebook 00 and every banner)

    from helpers.core import servers
    from helpers.containers import engine
    helpers.explain(exc)       # one sentence for an error of the workbook, Docker, requests or libvirt
    helpers.cleanup()          # remove everything this notebook created
    helpers.progress()         # every exercise of the workbook and its state for this student
"""

from __future__ import annotations

import atexit
import os

from helpers.core import cleanup, errors, session  # cleanup is callable: helpers.cleanup() removes what this session created
from helpers.core.cleanup import leftovers, sweep_dead_sessions
from helpers.core.errors import WorkbookError, explain
from helpers.core.progress import progress
from helpers.core.session import NOTEBOOK, SESSION_ID

__all__ = ["cleanup", "explain", "progress", "leftovers", "sweep_dead_sessions", "WorkbookError", "SESSION_ID", "NOTEBOOK"]
__version__ = "0.1.0"

# In a notebook, an error of the workbook, the Docker SDK, requests or libvirt is shown as one
# sentence (what happened, what to do) plus what the session still holds; %tb shows the rest.
errors.install_notebook_handler()

if os.environ.get("WORKBOOK_NO_SWEEP") != "1":
    cleanup.start_background_sweep()

# A kernel that is shut down normally cleans up even if the notebook did not.
# The tests turn this off, to prove that every notebook cleans up by itself.
# Only the process that owns the session (the kernel) does this: a child that
# imports helpers (a service started by a notebook) must not clean up its parent.
if os.environ.get("WORKBOOK_NO_ATEXIT_CLEANUP") != "1" and session.owns_session():
    atexit.register(lambda: cleanup.cleanup(quiet=True))
