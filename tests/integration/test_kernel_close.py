"""A kernel a run is done with is sent its shutdown request and not waited for; if that
request is lost (jupyter_client closes the control socket 0.1 s after sending it, which a
loaded machine can beat), the kernel must still go: it is killed after a grace period and
reaped, so a long-lived `run --watch` that replaces its kernel leaves none behind."""
import os

from nbfiles import gone

from nb2pipe.runner.kernel import KernelSession


def test_a_kernel_whose_shutdown_request_is_lost_is_still_stopped_and_reaped(tmp_path):
    session = KernelSession("python3", str(tmp_path), dict(os.environ)).spawn().connect()
    pid = session.pid
    assert pid is not None and os.path.exists(f"/proc/{pid}")

    async def lost() -> None:        # the request never reaches the kernel
        return None
    session.km.request_shutdown = lost
    session.close(wait=False)
    assert gone(pid, within=60), f"kernel {pid} still runs after its shutdown request was lost"
