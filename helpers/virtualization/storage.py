"""Storage pools and volumes: where the workbook keeps its pools, and tables of pools and volumes.

The pool and volume XML and the calls (``conn.storagePoolDefineXML``, ``pool.build()``,
``pool.create()``, ``conn.storagePoolCreateXML``, ``pool.createXML(vol_xml)``, ``vol.delete()``)
are the notebook's; this module lists them (skipping one that another session removes while
it is read) and removes a pool with its volumes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from helpers.virtualization.connection import each_present, mine, quietly


def pools_root() -> Path:
    from helpers.virtualization import guest
    d = guest.GUEST_DIR / "pools"
    d.mkdir(parents=True, exist_ok=True)
    return d


POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}


def pool_rows(conn, *, session_only: bool = True) -> list[dict]:
    """Pools with their state and sizes (the chapter's loop over ``listAllStoragePools``).

    This session's pools, or every pool with ``session_only=False``; a pool that
    another session removes while we read it is left out.
    """
    def row(p):
        st, cap, alloc, avail = p.info()
        return {"name": p.name(), "state": POOL_STATES.get(st, st),
                "volumes": p.numOfVolumes() if p.isActive() else "-",
                "capacity (GiB)": round(cap / 2**30, 2), "allocation (GiB)": round(alloc / 2**30, 2),
                "available (GiB)": round(avail / 2**30, 2)}

    pools = [p for p in conn.listAllStoragePools(0) if mine(p) or not session_only]
    return each_present(pools, row, libvirt.VIR_ERR_NO_STORAGE_POOL)


def volume_rows(pool_) -> list[dict]:
    """Every volume of a pool: capacity (what the guest sees) and allocation (what the host spends)."""
    def row(vol_name):
        v = pool_.storageVolLookupByName(vol_name)
        kind, cap, alloc = v.info()
        fmt = ET.fromstring(v.XMLDesc(0)).find("target/format")
        return {"name": vol_name, "format": fmt.get("type") if fmt is not None else "?",
                "capacity (MiB)": round(cap / 2**20, 1), "allocation (MiB)": round(alloc / 2**20, 2),
                "path": v.path()}

    pool_.refresh(0)
    return each_present(pool_.listVolumes(), row, libvirt.VIR_ERR_NO_STORAGE_VOL)


def remove_pool(p) -> list[str]:
    """Delete a pool's volumes, then ``destroy()``, ``delete()`` (its folder) and ``undefine()`` it (clean-up)."""
    removed = []
    if not quietly(p.isActive):
        quietly(p.create, 0)           # its volumes can be listed only while it runs
    if quietly(p.refresh, 0) is not None:
        for vol_name in quietly(p.listVolumes) or []:
            if quietly(lambda: p.storageVolLookupByName(vol_name).delete(0)) is not None:
                removed.append(f"libvirt volume {vol_name}")
    if quietly(p.isActive):
        quietly(p.destroy)
    quietly(p.delete, 0)               # removes the (now empty) directory
    quietly(p.undefine)
    return removed
