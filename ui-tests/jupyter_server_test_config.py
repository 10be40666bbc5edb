"""JupyterLab for the browser tests: localhost only, no token (test use only)."""
import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821
configure_jupyter_server(c)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("NB2PIPE_UI_PORT", "8899"))
c.ServerApp.allow_root = True
c.ServerApp.open_browser = False
# the widgets' and nb2pipe's own progress output stay out of the way
c.KernelManager.shutdown_wait_time = 5
