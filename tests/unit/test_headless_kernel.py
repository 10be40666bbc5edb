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


def test_a_step_outcome_event_becomes_the_output_nbformat_makes_and_nothing_else_does():
    """The runner builds the output node of its own outcome events itself (nbformat's schema
    check of each is ~0.5 ms a step); it must be the node nbformat makes, and any other
    message is left to nbformat."""
    from nbformat.v4 import output_from_msg

    from nb2pipe.protocol import EVENT_MIME
    from nb2pipe.runner.kernel import _event_output

    def msg(msg_type, content):
        return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {}, "content": content}
    event = msg("display_data", {"data": {EVENT_MIME: {"v": 1, "type": "progress", "step": "load"},
                                          "text/plain": "load: ran"}, "metadata": {"isolated": True}})
    assert _event_output(event) == output_from_msg(event)
    for other in (msg("display_data", {"data": {"text/plain": "3"}, "metadata": {}}),
                  msg("stream", {"name": "stdout", "text": "hi\n"}),
                  msg("execute_result", {"data": {EVENT_MIME: {}}, "metadata": {}, "execution_count": 1})):
        assert _event_output(other) is None
