"""helpers.virtualization.guest: the tiny guest builds, is cached, and boots to a shell under TCG."""

import gzip

from helpers.virtualization import guest


def test_ensure_builds_once_and_caches():
    g = guest.ensure()
    assert g.kernel.is_file() and g.initrd.is_file()
    again = guest.ensure()
    assert again.key == g.key and not again.built_now
    assert oct(g.initrd.stat().st_mode)[-3:] == "644"      # readable by libvirt-qemu


def test_initramfs_is_a_newc_archive_with_init_and_busybox():
    data = gzip.decompress(guest.build_initramfs(guest.kernel_version()))
    assert data.startswith(b"070701")
    for name in (b"init\0", b"bin/busybox\0", b"etc/inittab\0", b"dev/console\0", b"TRAILER!!!\0"):
        assert name in data


def test_domain_xml_has_direct_kernel_boot_console_log_and_virtio():
    xml = guest.domain_xml("wb-00000000-x", guest.ensure(), console_log="/tmp/c.log", network="n1", disk="/tmp/d.qcow2")
    for part in ("<kernel>", "<initrd>", "<log file=\"/tmp/c.log\"", "model='virtio'", "bus='virtio'", "type='qcow2'"):
        assert part in xml


def test_boots_to_prompt_under_tcg():
    run = guest.run_qemu(guest.ensure(), accel="tcg", mode="interactive", stop_at=guest.PROMPT, timeout=120)
    assert not run.timed_out and run.ready_after
    assert "virtio_rng" in run.console and guest.PROMPT in run.console


def test_probe_mode_powers_off_by_itself():
    run = guest.run_qemu(guest.ensure(), accel="tcg", mode="probe", timeout=120)
    assert "WB-PROBE-OK" in run.console and run.returncode == 0
