"""Notebook 12: a small image that declares port 5000 and answers HTTP there."""

# The installation line of the committed solution (and of myphp:fast): it comes from the build cache.
_INSTALL = ("RUN apt-get update && apt-get install -y --no-install-recommends php-cli \\\n"
            " && rm -rf /var/lib/apt/lists/* /var/cache/apt/*\n")


def _context(dockerfile: str) -> str:
    return ('my_context = image_checks.write_context("small-web", {\n'
            f'    "Dockerfile": {dockerfile!r},\n'
            '    "www/index.php": "<?php echo \'small and answering\';\\n",\n'
            '})')


CASES = {
    "964ab978": {
        "starter_hint": "not attempted",
        "wrong": [
            # the server listens inside the container on its loopback address only
            (_context("FROM debian\n" + _INSTALL + "COPY www /www\nEXPOSE 5000\n"
                      'CMD ["php", "-S", "127.0.0.1:5000", "-t", "/www"]\n'), "listen on 0.0.0.0"),
            # built on the chapter's myphp of section 5: it answers, but is far over the limit
            ('my_context = image_checks.write_context("small-web", {"Dockerfile": f"FROM {MYPHP}\\nEXPOSE 5000\\n'
             'CMD [\\"php\\", \\"-S\\", \\"0.0.0.0:5000\\", \\"-t\\", \\"/www\\"]\\n"})', "over the 200 MB limit"),
            # the port is never declared
            (_context("FROM debian\n" + _INSTALL + "COPY www /www\n"
                      'CMD ["php", "-S", "0.0.0.0:5000", "-t", "/www"]\n'), "add EXPOSE 5000"),
            # no CMD: the container runs debian's bash and exits at once
            (_context("FROM debian\n" + _INSTALL + "COPY www /www\nEXPOSE 5000\n"), "CMD (or ENTRYPOINT)"),
            # the chapter's port 8080 kept in the CMD
            (_context("FROM debian\n" + _INSTALL + "COPY www /www\nEXPOSE 5000\n"
                      'CMD ["php", "-S", "0.0.0.0:8080", "-t", "/www"]\n'), "listen on port 5000"),
        ],
    },
}
