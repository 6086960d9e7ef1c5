"""Notebook 07: classify strategies, execution-virtualization levels and hypervisor types."""

from helpers.virtualization.bench import TAXONOMY

RAID = "a RAID controller showing four disks as one volume"
CONTAINER = "a Docker container"
XEN = "Xen or VMware ESXi running directly on the hardware"
VIRTUALBOX = "VirtualBox running as a program on a desktop OS"


def _answers(changes: dict) -> str:
    """The solution cell's dict, with ``changes`` applied (the layout a student edits)."""
    answers = {**TAXONOMY, **changes}
    return "answers = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in answers.items()) + "}"


CASES = {
    "d119217c": {
        # the starter (metadata.workbook.starter): every example there, every answer empty
        "starter_hint": "fill in each empty string",
        "wrong": [
            # the right kind of answer (a level), the wrong level: a container shares the host's kernel
            (_answers({CONTAINER: "hardware level"}), "share the host's"),
            # an answer of the wrong kind: a hypervisor type where a strategy is asked for
            (_answers({RAID: "type II"}), "is a hypervisor type, but this one asks for a strategy"),
            # the two hypervisor types swapped
            (_answers({XEN: "type II", VIRTUALBOX: "type I"}), "is there an operating system below the hypervisor?"),
            # a word that is none of the answers
            (_answers({"a QEMU/KVM virtual machine": "virtual machine"}), "'virtual machine' is not one of the answers"),
        ],
    },
}
