"""Which setup definitions and modules a step uses: the part of a step's key that comes from
%%setup cells and from the imports, functions and classes of the steps above it.

Mixed into :class:`~nb2pipe.steps.Definitions` (needs ``steps``, ``setup``, ``setup_owner``
and ``_memo``).
"""
from __future__ import annotations

from .stepdef import StepDef


class SetupUse:
    def modules_for(self, step: StepDef) -> set[str]:
        """Modules a step depends on: its own imports, the modules behind setup names it
        reads, and every import of a setup cell whose functions or values it uses."""
        mods = set(step.info.imports)
        todo = [r for r in step.external_reads() if r in self.setup_owner]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            cell = self.setup[self.setup_owner[name]]
            if name in cell.info.import_map:
                mods.add(cell.info.import_map[name])
            else:
                mods.update(cell.info.imports)
                todo += [r for r in cell.info.reads if r in self.setup_owner]
        return mods

    def setup_hashes_for(self, step: StepDef) -> list[str]:
        """The setup definitions the step uses, transitively, as statement hashes; plus the
        side-effect statements of each setup cell it uses.  A name defined by several cells
        (``import numpy as np`` in many steps) is taken from the nearest one above the step,
        as the naming rule says; %%setup cells count as above every step."""
        definers = self._definers()
        todo = [r for r in step.external_reads() if r in definers]
        if not todo:
            return []                     # it reads no setup definition
        where = self._positions()
        here = self._step_index().get(step.name, len(self.steps))
        hashes: set[str] = set()
        cells: set[str] = set()
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            above = [k for k in definers.get(name, ()) if where.get(k, -1) < here]
            if not above:
                continue                  # defined only below: not something this step can use
            cell = self.setup[max(above, key=lambda k: where.get(k, -1))]
            cells.add(cell.cell_key)
            h, reads = cell.statements[0].get(name, (cell.code_hash, cell.info.reads))
            hashes.add(h)
            todo += [r for r in reads if r in definers]
        for key in cells:
            hashes.update(self.setup[key].statements[1])
        return sorted(hashes)

    def _positions(self) -> dict[str, int]:
        """Setup cell key -> position: -1 for %%setup cells, the step's index for the
        definitions a step makes (``step:NAME``)."""
        index = self._step_index()
        return self._memo("positions", lambda: {k: index.get(k[5:], -1) if k.startswith("step:") else -1
                                                for k in self.setup})

    def _step_index(self) -> dict[str, int]:
        return self._memo("step index", lambda: {n: i for i, n in enumerate(self._steps)})

    def _definers(self) -> dict[str, list[str]]:
        def build() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for k, c in self.setup.items():
                for n in c.statements[0]:
                    out.setdefault(n, []).append(k)
            return out
        return self._memo("definers", build)
