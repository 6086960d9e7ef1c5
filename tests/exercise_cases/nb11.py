"""Notebook 11: keep the data of a container in a named volume."""

CASES = {
    "e5523326": {
        "starter_hint": "not attempted",
        "wrong": [
            # a host folder: the data survive, but in a bind mount, not in a volume
            ('my_volumes = {str(ds.workdir("notes")): {"bind": "/data", "mode": "rw"}}', "instead of a host path"),
            # the path inside the container written without its leading /
            ('my_volumes = {"notes": {"bind": "data", "mode": "rw"}}', "starts with /"),
            # a volume name copied from another session's notebook
            ('my_volumes = ["wb-0badc0de-notes:/data"]', "a name of your own"),
            # the database's volume of section 3: it keeps data, but an earlier cell made it
            ('my_volumes = {DBDATA: {"bind": "/data", "mode": "rw"}}', "new volume of your own"),
            # -v /data: an anonymous volume, a new one for every container
            ('my_volumes = ["/data"]', "give the volume a name"),
            # copied from the read-only demonstration of section 2
            ('my_volumes = {"notes": {"bind": "/data", "mode": "ro"}}', "'rw'"),
        ],
    },
}
