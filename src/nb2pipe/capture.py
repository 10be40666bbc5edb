"""Each step runs like its own cell: what it prints, the figures it draws and the value of
its last expression are captured as notebook outputs (nbformat's shapes), stored with its
cache entry, and shown again when the step is served from the cache.

:class:`StepIO` is the plain version (terminals, tests, headless planning): it tees
stdout/stderr while the step runs and renders matplotlib figures to PNG.  The kernel shim
subclasses it to record rich displays and to show outputs through IPython (see
:mod:`nb2pipe.magics`).  Nothing here imports IPython.
"""
from __future__ import annotations

import base64
import contextlib
import io
import sys
from typing import Any, Iterator

MAX_TEXT = 200_000            # characters of one stream kept for replay
MAX_TOTAL = 4_000_000         # bytes of outputs kept per step (figures included)


class _Tee(io.TextIOBase):
    """Writes through to ``target`` and records what was written."""

    def __init__(self, target, record: list, name: str, mask=None):
        self._target, self._record, self._name, self._mask = target, record, name, mask

    def write(self, s: str) -> int:
        n = len(s)
        if self._mask is not None and isinstance(s, str):
            s = self._mask(s)          # a secret printed by the step is not shown, even live
        self._target.write(s)
        if self._record and self._record[-1].get("name") == self._name and \
                self._record[-1]["output_type"] == "stream":
            self._record[-1]["text"] += s
        else:
            self._record.append({"output_type": "stream", "name": self._name, "text": s})
        return n

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        """A tee does not own its target: closing it (as the garbage collector does when the
        step ends) neither closes nor flushes the target.  In a kernel each flush of its
        stream waits for the kernel's output thread (~1 ms, two per step); what the step
        printed still goes out in order, before the next display (which flushes the streams
        first) or at the end of the cell."""

    def __getattr__(self, name: str) -> Any:     # encoding, isatty, fileno...
        return getattr(self._target, name)


class StepIO:
    """Capture and replay of a step's outputs."""

    @contextlib.contextmanager
    def capture(self, mask=None) -> Iterator[list]:
        """Run the step inside this; the list it yields receives the outputs.  Figures left
        open by earlier code are closed first, so each step draws on a fresh state.  ``mask``
        (a :class:`nb2pipe.redact.Redactor`, when there are secrets) masks secret values in
        what the step prints and displays, as it is shown."""
        self._close_figures()
        outputs: list = []
        text = mask.text if mask else None
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old_out, outputs, "stdout", text), _Tee(old_err, outputs, "stderr", text)
        try:
            with self._recording_displays(outputs, mask if mask else None):
                yield outputs
        finally:
            sys.stdout, sys.stderr = old_out, old_err
            self._take_figures(outputs)

    @contextlib.contextmanager
    def _recording_displays(self, outputs: list, mask=None) -> Iterator[None]:
        yield

    def result(self, value: Any, outputs: list) -> None:
        """The value of the step's last expression, shown as a cell's would be."""
        if value is None:
            return
        out = {"output_type": "display_data", "data": self.mime_bundle(value), "metadata": {}}
        outputs.append(out)
        self.show(out)

    def mime_bundle(self, value: Any) -> dict:
        bundle = {"text/plain": repr(value)}
        html = getattr(value, "_repr_html_", None)
        if callable(html):
            try:
                text = html()
                if isinstance(text, str):
                    bundle["text/html"] = text
            except Exception:  # noqa: BLE001 - a broken repr must not fail the step
                pass
        return bundle

    def show(self, output: dict) -> None:
        """Show one recorded output now (replay, or a captured figure)."""
        if output["output_type"] == "stream":
            (sys.stderr if output.get("name") == "stderr" else sys.stdout).write(output["text"])
        else:
            print(output.get("data", {}).get("text/plain", ""))

    def replay(self, outputs: list) -> None:
        for o in outputs:
            self.show(o)

    # -- figures
    def _close_figures(self) -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")

    def _take_figures(self, outputs: list) -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for num in plt.get_fignums():
            fig = plt.figure(num)
            buf = io.BytesIO()
            try:
                fig.savefig(buf, format="png", bbox_inches="tight")
            except Exception:  # noqa: BLE001 - an unrenderable figure is not the step's failure
                continue
            out = {"output_type": "display_data", "metadata": {},
                   "data": {"image/png": base64.b64encode(buf.getvalue()).decode(),
                            "text/plain": repr(fig)}}
            outputs.append(out)
            self.show_figure(fig, out)
        plt.close("all")

    def show_figure(self, fig: Any, output: dict) -> None:
        pass                      # in a terminal a figure is not shown; it is kept for replay


def trim(outputs: list) -> list:
    """Outputs small enough to keep with a cache entry: long streams are cut, and outputs
    past the size budget are replaced by one line saying so."""
    kept, total = [], 0
    for o in outputs:
        if o["output_type"] == "stream" and len(o["text"]) > MAX_TEXT:
            o = {**o, "text": o["text"][:MAX_TEXT] + "\n[... output cut by nb2pipe ...]\n"}
        size = len(str(o))
        if total + size > MAX_TOTAL:
            kept.append({"output_type": "stream", "name": "stdout",
                         "text": "[... more output was not kept by nb2pipe ...]\n"})
            break
        kept.append(o)
        total += size
    return kept
