"""Virtualization and libvirt (notebooks 07-08), one concept a module.

    connection   which libvirt URI (qemu:///system, else test:///default), shared connections,
                 capabilities, this session's objects (mine, each_present)
    virsh        virsh(conn, "list --all"): a virsh command line run for real and shown
    domains      domain XML, the lifecycle's states and transitions, listings, wait_shut_off, removal
    console      a real guest's serial console, a command typed into it, its QEMU process
    networks     a free subnet under a lease, reservations, network and bridge views
    storage      the pools' folder, pool and volume tables, pool removal
    checks       notebook 08's exercise checks (Verdict)
    cleanup      CLEANER: a session's domains, networks, pools and files
    guest        the tiny guest: built once, cached, booted by QEMU directly
    initramfs    what the tiny guest is made of (boot scripts, modules, the cpio writer)
    bench        notebook 07's experiments and its taxonomy check
    widgets      the lifecycle panel, pool, volume and network plots
"""
