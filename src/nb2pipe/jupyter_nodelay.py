"""Config for a Jupyter Server or Kernel Gateway that serves remote kernels to nb2pipe:
send kernel messages at once instead of letting Nagle's algorithm hold them back (about
40-60 ms per cell otherwise, measured in bench/remote.py).

    jupyter kernelgateway --config="$(python -m nb2pipe.jupyter_nodelay)" ...
    jupyter server --config="$(python -m nb2pipe.jupyter_nodelay)" ...

(run as a module it prints its own path; loaded as a config file it patches the server)
"""
if __name__ == "__main__":
    print(__file__)
    raise SystemExit(0)

from jupyter_server.services.kernels.websocket import KernelWebsocketHandler  # noqa: E402

_open = KernelWebsocketHandler.open


async def _open_without_nagle(self, *args, **kwargs):
    self.set_nodelay(True)
    return await _open(self, *args, **kwargs)


KernelWebsocketHandler.open = _open_without_nagle
