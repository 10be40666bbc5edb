"""The sidebar's *Data at a glance*: a `preview` request on the `nb2pipe` comm answers with the
first rows of a step's output read from the store -- not the kernel's variable, nothing run --
and the graph's edges carry each table's rows x columns (real kernel, real CSV)."""
import json
import os

from kernelharness import Kernel
from nbfiles import write_nb

CELLS = [
    "%load_ext nb2pipe\n%nb2pipe pipeline flow.ipynb",
    "%%setup\nimport pandas as pd",
    "%%step load\nraw = pd.read_csv('data/people.csv')",
    "%%step clean\ndf = raw[raw.amount >= 3].copy()",
    "%%step const\nk = 3",
]


def _answer(k, request):
    k.comm_send(request)
    msgs = k.comm_messages(timeout=3)
    assert msgs[-1]["type"] == "reply", msgs
    return msgs


def test_preview_reads_the_stored_output_and_edges_carry_rows_and_columns(tmp_path):
    (tmp_path / "data").mkdir()
    rows = "\n".join(f"{i},{20 + i},{i * 1.0}" for i in range(10))
    (tmp_path / "data" / "people.csv").write_text("id,age,amount\n" + rows + "\n")
    write_nb(tmp_path / "flow.ipynb", CELLS)
    k = Kernel(str(tmp_path))
    try:
        k.ok(CELLS[0])
        for i, cell in enumerate(CELLS[1:], start=1):
            k.ok(cell, cell_id=f"c{i}")
        k.ok("raw = 'not the stored table'\nk = 99")      # the kernel's variables change; the store's do not
        k.comm_open()
        graph = next(m for m in k.comm_messages(timeout=2) if m.get("type") == "graph")
        assert [(e["source"], e["target"], e["data"], e["rows"], e["columns"]) for e in graph["edges"]] == [
            ("load", "clean", "raw", 10, 3)]

        preview, reply = _answer(k, {"type": "preview", "id": "p1", "step": "load", "output": "raw", "rows": 3})
        assert (reply["id"], reply["request"], reply["ok"]) == ("p1", "preview", True)
        assert (preview["rows"], preview["columns"]) == (10, 3)
        assert preview["schema"] == [["id", "int64"], ["age", "int64"], ["amount", "double"]]
        assert preview["head"] == [["0", "20", "0.0"], ["1", "21", "1.0"], ["2", "22", "2.0"]]
        assert preview["value_type"] == "pandas.DataFrame"
        assert "repr" not in preview and len(preview["key"]) == 12

        preview, _ = _answer(k, {"type": "preview", "id": "p2", "step": "const", "output": "k"})
        assert (preview["repr"], preview["value_type"]) == ("3", "builtins.int")
        assert "rows" not in preview and preview["head"] == []

        msgs = _answer(k, {"type": "preview", "id": "p3", "step": "clean", "output": "df"})
        assert [m["type"] for m in msgs] == ["preview", "reply"]     # no step ran: no state message
        assert msgs[0]["rows"] == 7 and msgs[0]["head"][0] == ["3", "23", "3.0"]

        [reply] = _answer(k, {"type": "preview", "id": "p4", "step": "nope", "output": "raw"})
        assert (reply["ok"], reply["message"]) == (False, (
            "preview: no step `nope` in this kernel (its steps: `load`, `clean`, `const`)\n"
            "  fix:   pick a step of this notebook"))
        [reply] = _answer(k, {"type": "preview", "id": "p5", "step": "load", "output": "nope"})
        assert (reply["ok"], reply["message"]) == (False, (
            "preview: step `load` has no stored output `nope` (its outputs: `raw`)\n"
            "  fix:   pick one of the step's outputs"))

        objects = tmp_path / ".nb2pipe" / "objects"
        for folder, _, files in os.walk(objects):
            for f in files:
                os.remove(os.path.join(folder, f))
        [reply] = _answer(k, {"type": "preview", "id": "p6", "step": "clean", "output": "df"})
        assert reply["ok"] is False
        assert reply["message"].startswith(f"preview: the stored object of `df` (step `clean`, entry {msgs[0]['key']})"
                                           " cannot be read: ")
        assert reply["message"].endswith("  fix:   run step `clean` again (`%dag run --force clean`)"
                                         " to store it anew")
    finally:
        k.shutdown()


def test_preview_masks_a_secret_in_the_rows(tmp_path):
    cells = ["%load_ext nb2pipe\n%nb2pipe pipeline s.ipynb", "%%setup\nimport pandas as pd",
             "%%params --secret api_token\napi_token = 'alice:Sekret-1'",
             "%%step fetch\nt = pd.DataFrame({'who': [api_token], 'n': [1]})"]
    write_nb(tmp_path / "s.ipynb", cells)
    k = Kernel(str(tmp_path))
    try:
        for i, cell in enumerate(cells):
            k.ok(cell, cell_id=f"c{i}")
        k.comm_open()
        k.comm_messages(timeout=1)
        msgs = _answer(k, {"type": "preview", "id": "p1", "step": "fetch", "output": "t"})
        assert msgs[0]["head"] == [["***", "1"]]
        assert "Sekret-1" not in json.dumps(msgs)
    finally:
        k.shutdown()
