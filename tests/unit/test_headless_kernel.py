"""A headless run starts ipykernel without its debugger (nobody can attach to it): only
ipykernel's own launcher is changed; a kernel spec with another command is used as it is."""
import subprocess
import sys

from nb2pipe.runner.launch import headless_argv


def test_ipykernels_launcher_starts_without_the_debugger():
    argv = headless_argv(["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    assert argv[0] == "python" and argv[1] == "-c" and argv[3:] == ["-f", "{connection_file}"]
    # the launcher line works in a real interpreter: debugpy is hidden, ipykernel's app loads
    code = argv[2].replace("launch_new_instance()", "print(sys.modules['debugpy'], launch_new_instance.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "traitlets.config.application"]


def test_another_kernel_command_is_left_as_it_is():
    for argv in (["/opt/conda/bin/python", "-m", "ipykernel", "-f", "{connection_file}"],
                 ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
                 ["python", "-m", "ipykernel_launcher"][:2]):
        assert headless_argv(argv) == argv


def test_a_temporary_folder_too_long_for_socket_paths_leaves_the_start_to_jupyter_client(tmp_path, monkeypatch):
    import tempfile

    from nb2pipe.runner import launch
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(deep))
    assert launch.launch("python3", {}, str(tmp_path), []) is None
    assert list(deep.iterdir()) == []          # nothing written, no process started
