"""A project for sample checks: a CSV of people, run for real (the contracts), then a first
row that makes `age` a float column (the break a check must find)."""
from nbfiles import nb2pipe, write_nb

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def broken_after_a_real_run(root, cells, rows=3000, name="flow.ipynb"):
    (root / "data").mkdir()
    body = "\n".join(f"{i},{20 + i % 50},{i * 1.5}" for i in range(rows))
    csv = root / "data" / "people.csv"
    csv.write_text("id,age,amount\n" + body + "\n")
    write_nb(root / name, cells, **KERNEL)
    code, out, err = nb2pipe("run", name, cwd=root)          # the contracts: last seen types
    assert code == 0, out + err
    lines = csv.read_text().splitlines()
    lines[1] = "0,20.5,0.0"           # `age` becomes a float column from the first row on
    csv.write_text("\n".join(lines) + "\n")
