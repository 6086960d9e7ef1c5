"""Notebook 13: scale the service to 4 replicas (``docker service scale``, in a %%bash cell)."""

HEAD = "%%bash\n# --- your command ---\n"
TAIL = "# --------------------"

CASES = {
    "c019": {
        "starter_hint": "wanted: 4",  # the demonstration left 3 replicas: the check says what it found
        "wrong": [
            (HEAD + "docker service scale wb-$WORKBOOK_SESSION-web=5\n" + TAIL, "asks for 5 replica(s) (wanted: 4)"),
            # a second service with 4 replicas is not the service the exercise names
            (HEAD + "docker service create --detach --name wb-$WORKBOOK_SESSION-web-b --replicas 4 \\\n"
             "  --label org.cloud-workbook.session=$WORKBOOK_SESSION python sleep 300\n" + TAIL,
             "docker service scale wb-"),
        ],
    },
}
