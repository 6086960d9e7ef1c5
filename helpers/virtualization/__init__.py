"""Virtualization and libvirt (notebooks 07-08): connections, domains, networks, storage, the tiny guest, benchmarks."""
