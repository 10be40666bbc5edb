"""Each step runs like its own cell: prints, figures and the last expression are shown,
and shown again when the step comes from the cache."""

PLOT_A = ("%%step plot_a\nimport matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
          "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\nlines_a = len(plt.gca().lines)\n"
          "print('drew a')\nlines_a")
PLOT_B = ("%%step plot_b\nimport matplotlib.pyplot as plt\nplt.plot([3, 2, 1])\n"
          "lines_b = len(plt.gca().lines)\nlines_b * 10")


def images(reply):
    return [d for d in reply.data if "image/png" in d]


def test_outputs_are_shown_then_replayed_from_the_cache(kernel):
    kernel.ok("%load_ext nb2pipe")
    first = kernel.ok(PLOT_A, cell_id="a")
    assert "drew a" in first.stdout
    assert len(images(first)) == 1
    assert [d["text/plain"] for d in first.data if "image/png" not in d] == ["1"]
    again = kernel.ok(PLOT_A, cell_id="a")
    assert "cached" in again.stdout
    assert "drew a" in again.stdout
    assert len(images(again)) == 1
    assert images(again)[0]["image/png"] == images(first)[0]["image/png"]
    assert [d["text/plain"] for d in again.data if "image/png" not in d] == ["1"]


def test_each_step_draws_on_a_fresh_figure_under_dag_run(kernel):
    kernel.ok("%load_ext nb2pipe\n%nb2pipe define-only on")
    kernel.ok(PLOT_A, cell_id="a")
    kernel.ok(PLOT_B, cell_id="b")
    kernel.ok("%nb2pipe define-only off")
    r = kernel.ok("%dag run")
    assert len(images(r)) == 2
    kernel.ok("print(lines_a, lines_b)")
    assert kernel.ok("print(lines_a, lines_b)").stdout.strip() == "1 1"
