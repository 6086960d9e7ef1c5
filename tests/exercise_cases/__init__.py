"""Wrong answers for every exercise, one module per notebook (``nb05.py`` for notebook 05).

Each module defines ``CASES``: for each exercise, keyed by the id of its cell tagged
``solution``, a piece of the hint its check must give for the starter (the starter itself
lives with the notebook, in that cell's ``metadata.workbook.starter``, beside the
student's ``hint``: the student edition is made from them, ``scripts/editions.py``), and
the ``wrong`` answers a student would really write, each with a piece of the hint the
check must give for that mistake::

    CASES = {
        "75d56294": {
            "starter_hint": "not attempted",
            "wrong": [
                ("<code that forgets the 404>", "404"),
                ("<code that answers 200 to a bad body>", "400"),
            ],
        },
    }

``tests/test_exercises.py`` runs the notebook up to that cell, then the starter and
each wrong answer followed by the exercise's check cells (tagged ``check``), then the
real solution and its checks, then the rest of the notebook.
"""
