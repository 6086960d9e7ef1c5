"""What every part uses: the kernel's session, clean-up, errors, leases, servers, the verdict type, the widget base."""
