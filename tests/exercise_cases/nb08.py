"""Notebook 08: a guest from running to saved and back (exercise 1), an isolated network's XML (exercise 2).

Exercise 1's wrong answers run one after another on the same guest, as a student's
attempts would: each check judges only what was done since the previous one, so an
attempt that merely restores what an earlier attempt saved does not pass.
"""

_ISO_NAME = '{resource_name("isolated")}'

CASES = {
    # Exercise 1: start, save, restore (dom.create(), dom.save(ex1.path), conn.restore(ex1.path))
    "5b80109e": {
        "starter_hint": "dom.save(ex1.path)",
        "wrong": [
            # starting it is not saving it
            ("dom.create()", "save the running domain"),
            # a save without a restore: the guest stays shut off, its image waits on disk
            ("dom.save(ex1.path)", "bring it back with conn.restore(ex1.path)"),
            # restoring what the previous attempt saved: nothing saved in this attempt
            ("conn.restore(ex1.path)", "save it in your attempt too"),
            # saving, then starting it again instead of restoring: it boots afresh, the saved memory is lost
            ("dom.save(ex1.path)\ndom.create()", "boots it from scratch"),
        ],
    },
    # Exercise 2: an isolated network
    "3ab8fabc": {
        "starter_hint": "resource_name('isolated')",
        "wrong": [
            # the NAT sample, renamed: its <forward> lets guests out
            ('my_xml = domains.sample_xml("network-nat", "isolated")', "remove <forward"),
            # a plain name: another session's network could have it, clean-up would not find it
            ("my_xml = f'<network><name>isolated</name><ip address=\"{prefix}.1\" netmask=\"255.255.255.0\"/></network>'",
             "resource_name('isolated')"),
            # the host address of the NAT network above: that subnet is taken
            ('nat_ip = networks.network_summary(nets["nat"])["address"].split("/")[0]\n'
             f"my_xml = f'<network><name>{_ISO_NAME}</name><ip address=\"{{nat_ip}}\" netmask=\"255.255.255.0\"/></network>'",
             "is already used by the libvirt network"),
            # no <ip>: the host's side of the switch gets no address
            (f"my_xml = f'<network><name>{_ISO_NAME}</name></network>'", "add an <ip address="),
            # <ip ...> opened and never closed
            (f"my_xml = f'<network><name>{_ISO_NAME}</name><ip address=\"{{prefix}}.1\" netmask=\"255.255.255.0\"></network>'",
             "close every tag"),
        ],
    },
}
