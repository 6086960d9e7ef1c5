"""Notebook 09: a paused greeter (detached, GREETING=hola, printing it every second, then paused)."""

LOOP = "['sh', '-c', 'while true; do echo \"$GREETING\"; sleep 1; done']"


def _greeter(command: str = LOOP, value: str = "hola", pause: bool = True) -> str:
    """The solution cell with one thing changed, as a student would change it."""
    code = ('GREETER = resource_name("greeter")\n'
            'remove_if_exists(GREETER)\n'
            f'greeter = client.containers.run("debian", {command},\n'
            f'                                name=GREETER, detach=True, environment={{"GREETING": "{value}"}},\n'
            '                                labels=labels())\n'
            'time.sleep(3)\n')
    return code + ("greeter.pause()\n" if pause else "")


CASES = {
    "74d69047": {
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
