"""IPython side of :mod:`nb2pipe.capture`: rich displays of a step are recorded as they
are published, and replayed through the kernel, so a cached step shows in the notebook what
it showed when it ran (prints, tables, figures, its last value)."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .capture import StepIO


class KernelIO(StepIO):
    def __init__(self, shell):
        self.shell = shell

    @contextlib.contextmanager
    def _recording_displays(self, outputs: list, mask=None) -> Iterator[None]:
        pub = self.shell.display_pub
        original = pub.publish

        def publish(data, metadata=None, *args, **kwargs):
            if mask is not None:       # a secret in a table or a repr is not shown either
                data, metadata = mask.scrub(data), mask.scrub(metadata)
            outputs.append({"output_type": "display_data", "data": _jsonable(data),
                            "metadata": _jsonable(metadata or {})})
            return original(data, metadata, *args, **kwargs)

        had_own = "publish" in pub.__dict__
        pub.publish = publish          # scoped to the step, restored below
        try:
            yield
        finally:
            if had_own:
                pub.publish = original
            else:
                del pub.publish

    def mime_bundle(self, value: Any) -> dict:
        data, _ = self.shell.display_formatter.format(value)
        return data

    def result(self, value: Any, outputs: list) -> None:
        if value is not None:            # published while recording: recorded once, shown once
            data, metadata = self.shell.display_formatter.format(value)
            self.shell.display_pub.publish(data=data, metadata=metadata)

    def show(self, output: dict) -> None:
        if output.get("output_type") == "stream":
            super().show(output)
        else:
            self.shell.display_pub.publish(data=output.get("data", {}), metadata=output.get("metadata", {}))

    def show_figure(self, fig: Any, output: dict) -> None:
        self.show(output)


def publish_event(data: dict) -> None:
    """Publish a display message (a headless run's step outcome).  IPython flushes stdout and
    stderr before each one, so it comes after what was printed; with ipykernel each flush is
    a round trip to its IO thread (twice per message, ~0.4 ms).  Here a stream is flushed only
    when something was written to it since its last flush (ipykernel's OutStream says so in
    ``_flush_pending``; any other stream is flushed as before)."""
    import sys
    from IPython.core.interactiveshell import InteractiveShell
    pub = InteractiveShell.instance().display_pub
    written = [s for s in (sys.stdout, sys.stderr)
               if getattr(s, "_flush_pending", True) or getattr(s, "_subprocess_flush_pending", False)]
    if len(written) == 2 or "_flush_streams" in pub.__dict__:
        pub.publish(data=data, metadata={})
        return
    pub._flush_streams = lambda: [s.flush() for s in written]      # this message only
    try:
        pub.publish(data=data, metadata={})
    finally:
        del pub._flush_streams


def _jsonable(d: dict) -> dict:
    """Mime bundles as JSON: bytes (e.g. a raw PNG) become base64 text, as nbformat stores them."""
    import base64
    out = {}
    for k, v in d.items():
        if isinstance(v, bytes):
            v = base64.b64encode(v).decode()
        elif isinstance(v, dict):
            v = _jsonable(v)
        out[k] = v
    return out
