"""A static HTML copy of a widget, for places where no widget manager runs."""

from __future__ import annotations


class StaticFallback:
    """Mixin: adds a ``text/html`` copy of the widget's state to its display data.

    JupyterLab shows the live widget; headless runs (the tests), nbconvert and
    GitHub show the HTML copy instead of "Loading widget...".  Subclasses
    implement ``_static_html()``.
    """

    def _static_html(self) -> str:  # pragma: no cover - overridden
        return ""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/html"] = self._static_html()
        return bundle
