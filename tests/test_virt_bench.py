"""helpers.virtualization.bench: the experiments run and give plausible numbers."""

import matplotlib

matplotlib.use("Agg")

from helpers.virtualization import bench as vb


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


def test_taxonomy_check():
    assert vb.check_taxonomy(dict(vb.TAXONOMY))
    wrong = dict(vb.TAXONOMY, **{"a Docker container": "hardware level"})
    verdict = vb.check_taxonomy(wrong)
    assert not verdict and verdict.attempted and "✘" in str(verdict)


def test_taxonomy_check_explains_without_answering():
    wrong = dict(vb.TAXONOMY)
    wrong["a Docker container"] = "hardware level"                      # right kind, wrong answer
    wrong["a RAID controller showing four disks as one volume"] = "type II"   # wrong kind
    wrong["a QEMU/KVM virtual machine"] = "virtual machine"            # not an answer at all
    del wrong["a process scheduler giving each program a few milliseconds of CPU in turn"]
    verdict = vb.check_taxonomy(wrong)
    out = str(verdict)
    assert not verdict
    assert "share the host's" in out                                    # a hint, as a question
    assert "is a hypervisor type, but this one asks for a strategy" in out
    assert "'virtual machine' is not one of the answers" in out
    assert "no answer yet" in out
    assert "operating-system level" not in out.split("a Docker container")[1].split("\n")[0]


def test_taxonomy_check_says_not_attempted_for_the_empty_starter():
    verdict = vb.check_taxonomy({k: "" for k in vb.TAXONOMY})
    assert not verdict and not verdict.attempted and "fill in each empty string" in str(verdict)


def test_comparison_findings_claim_only_what_was_measured():
    comp = vb.Comparison({"cpu": 1.0, "hash": 1.0}, {"cpu": 20.0, "hash": 5.0},
                         kvm_status="a KVM guest does not boot on this machine: it hangs")
    text = " ".join(comp.findings())
    assert "cpu suffered most (×20.0)" in text and "hash least (×5.0)" in text
    assert "KVM could not be measured" in text and "KVM meets" not in text
    comp.kvm = {"cpu": 1.1, "hash": 1.2}
    assert "under KVM: cpu ×1.1" in " ".join(comp.findings())


def test_time_multiplexing_summary():
    data = {"slices": {1: [(0.0, 0.004), (0.012, 0.016)], 2: [(0.004, 0.008)]}, "seconds": 0.02, "cpu": 0}
    s = vb.time_multiplexing_summary(data)
    assert s["slices"] == 3 and abs(s["median slice (ms)"] - 4.0) < 1e-6
    assert abs(s["shares"][1] - 0.4) < 1e-6 and abs(s["together"] - 0.6) < 1e-6


def test_taxonomy_check_rejects_non_dict():
    import pytest
    from helpers.core.errors import WorkbookError
    with pytest.raises(WorkbookError, match="expects a dict"):
        vb.check_taxonomy("emulation")


def test_workload_script_is_replaced_whole_while_another_kernel_reads_it():
    import threading

    from helpers.virtualization import guest
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
