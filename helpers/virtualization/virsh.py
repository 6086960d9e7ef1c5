"""``virsh`` beside Python: run a virsh command line for real and show it with its output.

``virsh(conn, "list --all")`` runs ``virsh -c <conn's URI> list --all`` (an argument list, no
shell) and returns a :class:`VirshResult` that prints as ``$ virsh -c ... list --all`` followed
by what virsh printed.  A ``;``-separated script runs in *one* virsh process: under
``test:///default`` every process has its own simulated host, so a script is how virsh can
define, start and inspect one object there.  ``shared_state=True`` marks a command about an
object this notebook created: under ``test:///default`` it is not run (the result says why).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass
class VirshResult:
    argv: list[str]
    returncode: int | None
    output: str
    skipped: str = ""
    #: 1 when a listing met another session's object vanishing mid-listing and was run again.
    retries: int = 0

    def __str__(self):
        # A ';'-separated script (one virsh process, several commands) is shown one command a line,
        # quoted as a shell user would type it.
        words = [f"'{w}'" if " " in w else w for w in self.argv]
        head = "$ " + " ".join(words).replace("; ", ";\n      ")
        if self.skipped:
            return f"{head}\n(not run: {self.skipped})"
        return f"{head}\n{self.output.rstrip()}"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def virsh(conn_or_uri, *args: str, shared_state: bool = False, timeout: float = 60) -> VirshResult:
    """Run ``virsh -c <uri> <args>`` for real (argument list, no shell) and return its output.

    ``shared_state=True`` marks a command about objects this notebook created:
    under ``test:///default`` each process has its own simulated host, so such
    a command is not run (the result says why) instead of showing a misleading error.
    """
    uri = conn_or_uri if isinstance(conn_or_uri, str) else conn_or_uri.getURI()
    argv = ["virsh", "-c", uri, *[str(a) for a in args]]
    if not shutil.which("virsh"):
        return VirshResult(argv, None, "", "virsh is not installed (apt-get install libvirt-clients)")
    if shared_state and uri.startswith("test:"):
        return VirshResult(argv, None, "", "virsh would open its own, separate test:///default host, "
                           "which does not have the objects this notebook created")
    retries = 0
    while True:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return VirshResult(argv, None, f"(virsh did not finish within {timeout:g} s)", retries=retries)
        # A listing (list, net-list, pool-list...) first lists every object on the host, then
        # asks about each one in turn.  On a shared host another session may undefine its own
        # object in between; virsh then says "... not found: no ... with matching uuid ..."
        # (pool-list: "Could not retrieve pool information", beside an 'unknown' row).  That is
        # a race, not an error of this notebook: run the listing once more.  Only a single
        # listing command is repeated (a ';' script may change things), and only once: a
        # second failure is shown as it is.
        if retries or not _listing_race(args, out.stderr):
            break
        retries += 1
    text = out.stdout + (out.stderr if out.returncode else "")
    return VirshResult(argv, out.returncode, text, retries=retries)


#: virsh commands that list objects and then query each of them.
_LISTINGS = {"list", "net-list", "pool-list", "vol-list", "iface-list", "nodedev-list", "secret-list",
             "nwfilter-list", "net-port-list", "snapshot-list", "checkpoint-list"}
#: What virsh says when an object it has just listed is gone (looked up again by its UUID).
_RACE_TEXT = re.compile(r"(Domain|Network|Storage pool|Storage volume) not found: no [\w ]+ with matching uuid"
                        r"|Could not retrieve pool information")


def _listing_race(args, stderr: str) -> bool:
    """True when one virsh listing command reported an object that vanished while it listed."""
    words = " ".join(str(a) for a in args).split()
    return (bool(words) and words[0] in _LISTINGS and ";" not in " ".join(words)
            and bool(_RACE_TEXT.search(stderr or "")))
