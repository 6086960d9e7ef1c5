"""helpers.virt_bench: the experiments run and give plausible numbers."""

import matplotlib

matplotlib.use("Agg")

from helpers import virt_bench as vb


def test_system_call_costs_more_than_plain_call():
    costs = vb.call_costs(number=20_000, repeat=2)
    assert costs["os.getppid()\n(system call)"] > costs["C builtin abs(-1)\n(user mode)"]
    vb.plot_call_costs(costs)


def test_space_multiplexing_same_address_different_content():
    parent, child = vb.space_multiplexing()
    assert parent["virtual address"] == child["virtual address"]
    assert parent["content"] != child["content"]


def test_time_multiplexing_records_slices():
    data = vb.time_multiplexing(processes=2, seconds=0.2)
    assert len(data["slices"]) == 2 and all(data["slices"].values())
    vb.plot_time_multiplexing(data)


def test_striped_volume_round_trip(tmp_path):
    v = vb.StripedVolume(tmp_path, members=3, block=16)
    payload = bytes(range(100))
    v.write(5, payload)
    assert v.read(5, 100) == payload
    assert len([s for s in v.member_sizes().values() if s]) == 3


def test_native_vs_tcg_comparison():
    comp = vb.compare_native_guest(names=("hash",), try_kvm=False)
    assert comp.tcg["hash"] > 0 and comp.native["hash"] > 0
    vb.plot_comparison(comp)


def test_taxonomy_check(capsys):
    assert vb.check_taxonomy(dict(vb.TAXONOMY))
    wrong = dict(vb.TAXONOMY, **{"a Docker container": "hardware level"})
    assert not vb.check_taxonomy(wrong)
    assert "✘" in capsys.readouterr().out


def test_taxonomy_check_explains_without_answering(capsys):
    wrong = dict(vb.TAXONOMY)
    wrong["a Docker container"] = "hardware level"                      # right kind, wrong answer
    wrong["a RAID controller showing four disks as one volume"] = "type II"   # wrong kind
    wrong["a QEMU/KVM virtual machine"] = "virtual machine"            # not an answer at all
    del wrong["a process scheduler giving each program a few milliseconds of CPU in turn"]
    assert not vb.check_taxonomy(wrong)
    out = capsys.readouterr().out
    assert "share the host's" in out                                    # a hint, as a question
    assert "is a hypervisor type, but this one asks for a strategy" in out
    assert "'virtual machine' is not one of the answers" in out
    assert "no answer yet" in out
    assert "operating-system level\n" not in out.split("a Docker container")[1].split("\n")[0]


def test_taxonomy_check_rejects_non_dict():
    import pytest
    from helpers.errors import WorkbookError
    with pytest.raises(WorkbookError, match="expects a dict"):
        vb.check_taxonomy("emulation")


def test_workload_script_is_replaced_whole_while_another_kernel_reads_it():
    import threading

    from helpers import guest
    path = vb._workload_script()
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(path.read_text())          # a kernel running the script at this moment
    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(200):
            vb._workload_script()               # another kernel writes it again
    finally:
        stop.set()
        t.join()
    assert seen == {guest.WORKLOAD}             # never empty, never half-written
    assert not list(path.parent.glob(f".{path.name}.*"))
