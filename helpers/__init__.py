"""Helpers for the cloud-computing workbook.

``import helpers`` starts this kernel's *session* (see :mod:`helpers.session`)
and removes what earlier sessions left behind when their kernel died.
Topic modules are imported on demand::

    from helpers import servers, docker_engine, images, envcheck
    helpers.cleanup()          # remove everything this notebook created
"""

from __future__ import annotations

import atexit
import os

from . import cleanup, errors, session  # cleanup is callable: helpers.cleanup() removes what this session created
from .cleanup import leftovers, sweep_dead_sessions
from .errors import WorkbookError
from .session import NOTEBOOK, SESSION_ID

__all__ = ["cleanup", "leftovers", "sweep_dead_sessions", "WorkbookError", "SESSION_ID", "NOTEBOOK"]
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
