"""The one verdict type of every exercise check.

A check collects what it found, one sentence per criterion, and returns the
:class:`Verdict`; the notebook shows it (HTML in JupyterLab, text elsewhere)::

    v = Verdict("Exercise 1: a web server on port 8080")
    v.ok("a container of this notebook publishes 8080")
    v.fail("nothing answers GET / there", hint="is the web server listening on 0.0.0.0?")
    return v

A verdict *passes* when at least one criterion holds and none fails.  A
check that finds nothing of the student's work says so with
:meth:`Verdict.not_attempted` (never a pass).  The verdict also travels in
the notebook as ``application/vnd.cloud-workbook.verdict+json``, so tests
(and a student's progress table) read the result without parsing text.
When a verdict is shown, it is also recorded in the student's work folder
(:mod:`helpers.core.progress`), under the name of the check function that made it.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field

MIME = "application/vnd.cloud-workbook.verdict+json"
_MARKS = {True: "✔", False: "✘", None: "•"}
_COLOURS = {True: "#2e7d32", False: "#c62828", None: "#555"}


@dataclass
class Verdict:
    """The result of a check: ``items`` are (ok, sentence); ok=None is a note."""

    title: str
    items: list[tuple[bool | None, str]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    attempted: bool = True
    #: The check function that made this verdict (``check_greeter``), found on the call stack.
    check: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.check is None:
            frame = sys._getframe(1)
            for _ in range(8):
                if frame is None:
                    break
                if frame.f_code.co_name.startswith("check_"):
                    self.check = frame.f_code.co_name
                    break
                frame = frame.f_back
        self._recorded = False

    def ok(self, text: str) -> bool:
        self.items.append((True, text))
        return True

    def fail(self, text: str, hint: str | None = None) -> bool:
        self.items.append((False, text))
        if hint:
            self.hints.append(hint)
        return False

    def note(self, text: str) -> None:
        self.items.append((None, text))

    def add(self, passed: bool, text: str, hint: str | None = None) -> bool:
        """``ok(text)`` or ``fail(text, hint)`` depending on ``passed``."""
        return self.ok(text) if passed else self.fail(text, hint)

    def not_attempted(self, text: str, hint: str | None = None) -> "Verdict":
        """Nothing of the student's work was found: say what the check looked for."""
        self.attempted = False
        self.fail(text, hint)
        return self

    @property
    def passed(self) -> bool:
        return self.attempted and any(ok for ok, _ in self.items) and not any(ok is False for ok, _ in self.items)

    def __bool__(self) -> bool:
        return self.passed

    def _conclusion(self) -> str:
        if self.passed:
            return "PASSED"
        if not self.attempted:
            return "NOT ATTEMPTED YET: write your solution in the cell above, run it, then run this check."
        return "NOT YET: fix the ✘ lines and run the check again."

    def as_dict(self) -> dict:
        return {"title": self.title, "passed": self.passed, "attempted": self.attempted,
                "items": [{"ok": ok, "text": text} for ok, text in self.items], "hints": list(self.hints)}

    def __str__(self) -> str:
        lines = [self.title] + [f"  {_MARKS[ok]} {text}" for ok, text in self.items]
        lines += [f"  hint: {h}" for h in self.hints]
        lines.append(self._conclusion())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(f"<li style='color:{_COLOURS[ok]}'>{_MARKS[ok]} {html.escape(text)}</li>"
                       for ok, text in self.items)
        rows += "".join(f"<li style='color:#555'>💡 {html.escape(h)}</li>" for h in self.hints)
        colour = "#2e7d32" if self.passed else "#c62828"
        head, _, rest = self._conclusion().partition(":")
        conclusion = f"<b style='color:{colour}'>{html.escape(head)}</b>" + (f":{html.escape(rest)}" if rest else "")
        return (f"<div><b>{html.escape(self.title)}</b>"
                f"<ul style='list-style:none;padding-left:1em'>{rows}</ul>{conclusion}</div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        if not self._recorded:  # shown in a notebook: the check has run, record it once
            self._recorded = True
            from helpers.core import progress

            progress.record(self)
        return {"text/plain": str(self), "text/html": self._repr_html_(), MIME: self.as_dict()}
