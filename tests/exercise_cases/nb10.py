"""Notebook 10: a web server reachable from the host, and two containers that find each other by name.

The wrong answers are written as a student would, with the Docker SDK (``client``, ``rm_f``,
``rm_net``, ``labels`` and ``resource_name`` come from the notebook's first cells)."""


def _web(image: str = '"nginx"', extra: str = "", ports: str | None = '{"80/tcp": ("127.0.0.1", EXERCISE_PORT)}') -> str:
    published = f", ports={ports}" if ports else ""
    return ('rm_f(resource_name("site"))\n'
            f'site = client.containers.run({image}{extra}, detach=True, name=resource_name("site"), '
            f'labels=labels(){published})\n')


def _pair(network_a: str | None = "team", network_b: str | None = "team", command: str = '"sleep infinity"') -> str:
    code = ""
    for net in dict.fromkeys(n for n in (network_a, network_b) if n):
        code += (f'rm_net(resource_name("{net}"))\n'
                 f'{net.replace("-", "_")} = client.networks.create(resource_name("{net}"), driver="bridge", '
                 f'labels=labels())\n')
    for who, net in (("alice", network_a), ("bob", network_b)):
        on = f", network={net.replace('-', '_')}.name" if net else ""
        cmd = f"{command}, " if command else ""
        code += (f'rm_f(resource_name("{who}"))\n'
                 f'{who} = client.containers.run("debian", {cmd}detach=True, name=resource_name("{who}"), '
                 f'labels=labels(){on})\n')
    return code


CASES = {
    # Exercise 1: http://127.0.0.1:EXERCISE_PORT/ answers
    "1eeb8424": {
        "starter_hint": "publish its port on host port",
        "wrong": [
            (_web(ports=None), "Without publishing"),                                       # no -p at all
            (_web(ports='{"8080/tcp": ("127.0.0.1", EXERCISE_PORT)}'),                      # -p 8080:8080
             "the port the server listens on"),
            (_web(ports='{"80/tcp": ("127.0.0.1", None)}'), "The host side of the mapping"),  # -p 127.0.0.1::80
            (_web(image='"debian"', extra=', "sleep infinity"'), "contain a web server at all"),
        ],
    },
    # Exercise 2: two containers that resolve each other's name
    "c4827685": {
        "starter_hint": "Create a network of your own",
        "wrong": [
            (_pair(None, None), "a network of your own"),                       # the default bridge
            (_pair("team-a", "team-b"), "Start both containers on the same network"),
            (_pair(command=""), "sleep infinity"),                              # bash ends at once: they stop
        ],
    },
}
