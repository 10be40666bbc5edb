"""Kernels on a remote Jupyter Server or Kernel Gateway, for nbclient.

jupyter_server's gateway classes almost work for a headless client; two defects
need a small subclass (see shared recipes): the websocket is opened without the
auth header, and ``start_kernel`` ignores the kernel name asked for.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

from ..errors import Nb2pipeError


def configure(url: str | None, token: str | None) -> tuple[str, str]:
    """Set the process-wide GatewayClient (that is how jupyter_server's classes find it;
    a CLI run is its own process)."""
    url = url or os.environ.get("JUPYTER_GATEWAY_URL")
    token = token if token is not None else os.environ.get("JUPYTER_GATEWAY_AUTH_TOKEN", "")
    if not url:
        raise Nb2pipeError("no gateway URL", fix="pass --gateway-url URL or set JUPYTER_GATEWAY_URL")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise Nb2pipeError(f"--gateway-url {url!r} is not an http(s) URL",
                           fix="e.g. --gateway-url http://127.0.0.1:8888")
    from jupyter_server.gateway.gateway_client import GatewayClient
    url = url.rstrip("/")
    # a fresh singleton (public API): connection arguments it cached for another URL or
    # token are not reused
    GatewayClient.clear_instance()
    gc = GatewayClient.instance(url=url, ws_url="ws" + url[len("http"):], auth_token=token,
                                auth_scheme="token")
    return gc.url, token


def manager_class():
    """The kernel manager class nbclient should use for gateway kernels."""
    from jupyter_server.gateway.managers import GatewayKernelManager
    from traitlets import DottedObjectName, Type

    class Nb2pipeGatewayKernelManager(GatewayKernelManager):
        client_class = DottedObjectName("nb2pipe.runner.remote.AuthenticatedGatewayKernelClient")
        client_factory = Type(klass="nb2pipe.runner.remote.AuthenticatedGatewayKernelClient")

        async def start_kernel(self, **kwargs):
            kwargs.setdefault("kernel_name", self.kernel_name or "python3")
            kwargs.pop("extra_arguments", None)    # a remote kernel's command line is not ours
            return await super().start_kernel(**kwargs)

        async def _async_is_alive(self):
            # what the kernel client asks (nbclient, when a cell's time limit passes); the base
            # class looks for a local process
            return await self.is_alive()

    return Nb2pipeGatewayKernelManager


def _client_base():
    from jupyter_server.gateway.managers import GatewayKernelClient
    return GatewayKernelClient


class AuthenticatedGatewayKernelClient(_client_base()):
    """Opens the kernel's websocket with the same auth headers as the REST calls."""

    async def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
        import websocket
        from jupyter_client.asynchronous import AsyncKernelClient
        from jupyter_server.gateway.gateway_client import GatewayClient
        from jupyter_server.utils import url_path_join
        from tornado.escape import url_escape
        gc = GatewayClient.instance()
        ws_url = url_path_join(gc.ws_url or "", gc.kernels_endpoint, url_escape(self.kernel_id), "channels")
        headers = gc.load_connection_args().get("headers", {})
        self.channel_socket = websocket.create_connection(
            ws_url, timeout=gc.KERNEL_LAUNCH_TIMEOUT, enable_multithread=True,
            header=[f"{k}: {v}" for k, v in headers.items()])
        # the socket carries many small messages: no Nagle delay on our side
        try:
            import socket
            self.channel_socket.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:  # noqa: BLE001
            pass
        from jupyter_core.utils import ensure_async
        await ensure_async(AsyncKernelClient.start_channels(self, shell=shell, iopub=iopub, stdin=stdin,
                                                            hb=hb, control=control))
        from threading import Thread
        self.response_router = Thread(target=self._route_responses, daemon=True)
        self.response_router.start()


def explain(exc: BaseException, url: str) -> Nb2pipeError:
    """One clear message for the ways a remote kernel fails."""
    code = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    text = str(exc)
    if code in (401, 403) or "401" in text or "403" in text and "xsrf" in text.lower():
        return Nb2pipeError(f"authentication failed at {url}",
                            fix="check --token (or JUPYTER_GATEWAY_AUTH_TOKEN)")
    if isinstance(exc, (ConnectionRefusedError, OSError)) or code in (502, 503, 599):
        return Nb2pipeError(f"lost the kernel server at {url}: {text or type(exc).__name__}",
                            fix="check that the server is running and reachable; finished steps are"
                                " kept, the next run resumes after them")
    return Nb2pipeError(f"the remote kernel at {url} failed: {type(exc).__name__}: {text}",
                        fix="see the server's log")

