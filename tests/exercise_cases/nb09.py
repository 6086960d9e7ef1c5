"""Notebook 09: a paused greeter (detached, GREETING=hola, printing it every second, then paused)."""

LOOP = "['sh', '-c', 'while true; do echo \"$GREETING\"; sleep 1; done']"


def _greeter(command: str = LOOP, value: str = "hola", pause: bool = True) -> str:
    """The solution cell with one thing changed, as a student would change it."""
    code = ('GREETER = C.name("greeter")\n'
            f'greeter = C.run("debian", {command},\n'
            f'                name=GREETER, detach=True, reuse=False, environment={{"GREETING": "{value}"}})\n'
            'time.sleep(3)\n')
    return code + ("C.pause(greeter)\n" if pause else "")


CASES = {
    "74d69047": {
        "starter": 'GREETER = C.name("greeter")\n# your code here: the greeter container, then pause it\n',
        "starter_hint": "name=GREETER",
        "wrong": [
            # forgot the last step
            (_greeter(pause=False), "Pause it"),
            # no shell in between: echo prints the text $GREETING (and ends, so pausing fails)
            (_greeter(command="['echo', '$GREETING']"), "inside the container's shell"),
            # the greeting printed once: the container ends with its command
            (_greeter(command="['sh', '-c', 'echo \"$GREETING\"']"), "A container lives as long as its command"),
            # another value
            (_greeter(value="hello"), "the value the exercise names"),
        ],
    },
}
