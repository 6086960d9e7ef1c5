"""Notebook 00: can this machine pull images from a registry?"""

CASES = {
    "f9a41ab8": {
        "starter_hint": "Replace None with True or False",
        "wrong": [
            # the right answer, in words: the check asks for a boolean instead of saying "not quite"
            ('can_pull = "yes" if report["registry"]["ok"] else "no"', "Answer True or False, without quotes"),
            # the wrong boolean (written so that it is wrong on every machine)
            ('can_pull = not report["registry"]["ok"]', "row 'Image registry'"),
        ],
    },
}
