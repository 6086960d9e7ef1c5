"""The exercise checks of notebook 08, each returning a :class:`helpers.core.verdict.Verdict`.

* :func:`check_saved_and_back` (exercise 1): did the student's ``dom.save(path)`` and
  ``conn.restore(path)`` take the guest from running to a file and back?  Judged from what
  libvirt and the file system say now, against what they said when the exercise began (or
  at the previous check): a new saved image, a new run of the domain, libvirt's reason
  *restored*.
* :func:`check_isolated_network` (exercise 2): is the XML an isolated network of this
  session that libvirt accepts and runs?
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from helpers.core.errors import WorkbookError
from helpers.core.session import resource_name
from helpers.core.verdict import Verdict
from helpers.virtualization import connection, networks
from helpers.virtualization.connection import first_line, mine
from helpers.virtualization.domains import lifecycle_state, save_path


def check_isolated_network(xml: str, conn=None) -> Verdict:
    """Exercise check: is ``xml`` an isolated network of this session that libvirt accepts and runs?

    It judges the XML text alone: it parses it, then creates it as a transient network
    (``networkCreateXML``) under :data:`helpers.virtualization.networks.NETWORK_LEASE`, inspects it and removes it again.
    A subnet that a host interface, another network or another session's reservation
    already uses is reported as such (under the lease, so the answer holds until libvirt
    creates the network).
    """
    v = Verdict("Exercise 2: an isolated network")
    if not isinstance(xml, str) or not xml.strip():
        return v.not_attempted("my_xml holds no XML yet",
                               hint="write the <network> element in my_xml, as a string")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        v.fail(f"the XML is not well-formed (the parser says: {exc})",
               hint="close every tag (<ip .../> or <ip ...></ip>) and quote every attribute")
        return v
    if root.tag == "network" and root.find("name") is None and root.find("ip") is None and root.find("forward") is None:
        return v.not_attempted("the <network> element has no <name> and no <ip> yet",
                               hint="name it with resource_name('isolated') and give the host side an "
                                    "<ip address=... netmask=...> in the subnet reserved above")
    if not v.add(root.tag == "network", "the root element is <network>", hint=f"the root element is <{root.tag}>: "
                 "a network definition starts with <network>"):
        return v
    net_name = (root.findtext("name") or "").strip()
    v.add(mine(net_name) and len(net_name) > len(resource_name("")),
          f"the name belongs to this session ({net_name or 'no <name>'})",
          hint="name it with resource_name('isolated'), so that clean-up finds it and no other session's "
               "network has the same name")
    v.add(root.find("forward") is None, "there is no <forward> element (that is what makes it isolated)",
          hint="remove <forward ...>: with it the guests could reach the outside")
    ip = root.find("ip")
    subnet = None
    if ip is not None and ip.get("address") and (ip.get("netmask") or ip.get("prefix")):
        try:
            subnet = ipaddress.ip_network(f"{ip.get('address')}/{ip.get('netmask') or ip.get('prefix')}", strict=False)
        except ValueError as exc:
            v.fail(f"the <ip> element does not give a valid address and mask ({exc})",
                   hint="write e.g. <ip address='10.213.7.1' netmask='255.255.255.0'/>")
        else:
            v.ok(f"an <ip> element gives the host's side of the switch the address {ip.get('address')} ({subnet})")
    elif ip is None or not ip.get("address"):
        v.fail("no <ip address=...> gives the host's side of the switch an address",
               hint="add an <ip address=... netmask='255.255.255.0'/> in the subnet reserved above, e.g. "
                    "address f'{prefix}.1'")
    else:
        v.fail(f"<ip address='{ip.get('address')}'> has no netmask",
               hint="add netmask='255.255.255.0' (or prefix='24') to the <ip> element")
    if not v.passed:
        return v
    conn = conn or connection.connect()
    with networks.network_lease(conn):  # nobody else chooses a subnet or a bridge until ours exists (and is gone)
        try:
            old = conn.networkLookupByName(net_name)
        except libvirt.libvirtError:
            old = None
        if old is not None:
            networks.remove_network(old)
            v.note(f"a network named {net_name} already existed (an earlier cell made it): the check removed it "
                   f"and created yours from my_xml")
        clash = [who for used, who in networks.subnet_users(conn, own_reservations=False) if subnet.overlaps(used)]
        if not v.add(not clash, f"the subnet {subnet} is free on this host",
                     hint=f"{subnet} is already used by {clash[0] if clash else ''}: use the subnet reserved for you "
                          f"(subnet = networks.reserve_subnet(conn, 'isolated'), address f'{{prefix}}.1')"):
            return v
        try:
            net = conn.networkCreateXML(xml)
        except libvirt.libvirtError as exc:
            v.fail(f"libvirt refused to create and start it ({first_line(exc.get_error_message())})",
                   hint="fix what libvirt names and run your cell and the check again")
            return v
        try:
            summary = networks.network_summary(net)
            v.add(summary["active"] and summary["mode"] == "isolated",
                  f"libvirt runs it as an isolated network (bridge {summary['bridge']}, host address {summary['address']})",
                  hint=f"libvirt reports it as active={summary['active']}, mode {summary['mode']}")
        finally:
            networks.remove_network(net)
    v.note("the check removed the network again")
    return v


# --------------------------------------------------------------------------- exercise 1: saved and back

_REASONS = {libvirt.VIR_DOMAIN_RUNNING_BOOTED: "booted", libvirt.VIR_DOMAIN_RUNNING_RESTORED: "restored",
            libvirt.VIR_DOMAIN_RUNNING_UNPAUSED: "unpaused"}


class SavedAndBackExercise:
    """Notebook 08's exercise 1: the check judges what happens to a domain from now on, and nothing before.

    Create it where the exercise begins (``ex1 = checks.SavedAndBackExercise(dom)``); the
    student saves the guest to ``ex1.path`` (``dom.save(ex1.path)``) and restores it
    (``conn.restore(ex1.path)``).  What the check compares: the saved image's modification
    time and the domain's ID (a restored domain is a new run, with a new ID) now, against
    their values when the previous attempt was judged (at first: when the exercise began).
    Run again with nothing new done, the check judges the same attempt again.
    """

    def __init__(self, dom):
        self.conn = dom.connect()
        self.dom_name = dom.name()
        #: The file the student saves to and restores from (this session's, removed by clean-up).
        self.path = str(save_path(self.dom_name))
        self.state_at_start = lifecycle_state(self.conn, self.dom_name)
        self._start = self._observe()      # when the exercise began
        self._before = self._start         # what the current attempt is compared with
        self._seen = self._start           # what the last check saw

    def __repr__(self):
        return (f"Exercise 1 begins: {self.dom_name} is {self.state_at_start} now; save it to ex1.path "
                f"({self.path}). The check will judge only what you do to it from here on.")

    def _domain(self):
        try:
            return self.conn.lookupByName(self.dom_name)     # a fresh handle: its ID is the current one
        except libvirt.libvirtError:
            return None

    def _observe(self) -> tuple:
        """(domain ID, the image's modification time in ns or None)."""
        dom = self._domain()
        try:
            dom_id = dom.ID() if dom is not None and dom.isActive() else -1
        except libvirt.libvirtError:
            dom_id = -1
        try:
            mtime = Path(self.path).stat().st_mtime_ns
        except OSError:
            mtime = None
        return dom_id, mtime

    def _attempt(self) -> tuple[tuple, tuple, bool]:
        """(before, now, first attempt?) for the attempt to judge."""
        now = self._observe()
        if now != self._seen:                # something was done since the last check: a new attempt
            self._before, self._seen = self._seen, now
        return self._before, now, self._before == self._start

    def check(self) -> Verdict:
        return check_saved_and_back(self)


def check_saved_and_back(exercise: SavedAndBackExercise) -> Verdict:
    """Exercise check: in this attempt, did the domain go running → saved (``exercise.path``) → running from it?

    From libvirt and the file system only: the image at ``exercise.path`` was written in this
    attempt and is a saved image of this domain (``conn.saveImageGetXMLDesc``), and the domain
    runs now, in a new run (a new ID), with the reason *restored* (not *booted*).
    """
    if not isinstance(exercise, SavedAndBackExercise):
        raise WorkbookError("check_saved_and_back expects the exercise object, e.g. ex1 = "
                            "checks.SavedAndBackExercise(dom) and then checks.check_saved_and_back(ex1).")
    conn, dom_name, path = exercise.conn, exercise.dom_name, exercise.path
    v = Verdict(f"Exercise 1: {dom_name} from running to saved and back")
    (id_before, mtime_before), (id_now, mtime_now), first = exercise._attempt()
    since = "the exercise began" if first else "the previous check"
    dom = exercise._domain()
    if dom is None:
        v.fail(f"there is no domain named {dom_name} on {conn.getURI()} any more",
               hint="run the cell that defines dom again (dom = conn.defineXML(guest_xml)), then the exercise's cells")
        return v
    try:
        state, reason = dom.state()
    except libvirt.libvirtError:
        state, reason = libvirt.VIR_DOMAIN_SHUTOFF, 0
    running = state == libvirt.VIR_DOMAIN_RUNNING
    saved_now = mtime_now is not None and mtime_now != mtime_before
    if not saved_now and id_now == id_before:
        return v.not_attempted(f"nothing was done to {dom_name} since {since}",
                               hint="start it if it is off (dom.create()), save it with dom.save(ex1.path), "
                                    "then restore it with conn.restore(ex1.path)")
    if saved_now:
        try:
            image_of = ET.fromstring(conn.saveImageGetXMLDesc(path, 0)).findtext("name")
        except (libvirt.libvirtError, ET.ParseError):
            image_of = None
        if not v.add(image_of == dom_name, f"it was saved to ex1.path in this attempt ({Path(path).name}, "
                     f"a saved image of {dom_name}: dom.save = virsh save)",
                     hint=f"ex1.path holds {'a saved image of ' + image_of if image_of else 'no saved image libvirt can read'}: "
                          f"save this guest there with dom.save(ex1.path)"):
            return v
    elif mtime_now is not None:
        v.fail("it was restored from an image saved before this attempt began, but this attempt saved nothing itself",
               hint="save it in your attempt too: dom.save(ex1.path), then conn.restore(ex1.path)")
    else:
        v.fail("nothing was saved to ex1.path in this attempt",
               hint="save the running domain: dom.save(ex1.path) (virsh save)")
    why = _REASONS.get(reason, f"reason {reason}")
    if running and reason == libvirt.VIR_DOMAIN_RUNNING_RESTORED and id_now != id_before:
        v.ok(f"it runs again from the restored memory (libvirt: state running, reason {why}; "
             f"a new run, ID {id_now}: conn.restore = virsh restore)")
    elif running and reason == libvirt.VIR_DOMAIN_RUNNING_BOOTED:
        v.fail("it is running, but libvirt says it was booted afresh (reason: booted), not restored from the file",
               hint="end with the restore: conn.restore(ex1.path), not dom.create(), which boots it "
                    "from scratch and loses the saved memory")
    elif running:
        v.fail(f"it is running (libvirt: reason {why}), but not from a restore done in this attempt",
               hint="bring it back from its file with conn.restore(ex1.path)")
    else:
        v.fail(f"it is not running now (lifecycle state: {lifecycle_state(conn, dom_name)})",
               hint="bring it back with conn.restore(ex1.path): it runs again from the saved memory")
    if v.passed:
        v.note("the image stays in ex1.path until helpers.cleanup() removes it (restoring it again would "
               "go back to the moment of this save)")
    return v
