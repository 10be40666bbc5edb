"""A local kernel's process, started before jupyter_client is imported.

A headless run starts its kernel as soon as its plan says a step is stale.  Through
jupyter_client that came after ~70 ms of importing it and ~25 ms of its manager; here the
kernel spec is read and the process started with the standard library, and jupyter_client
is imported while the kernel boots (:meth:`KernelSession.connect` hands the process to a
kernel manager, which then stops, interrupts and restarts it as if it had started it).

What is done is what jupyter_client does for a local kernel (KernelSpecManager, LocalProvisioner,
``launch_kernel``), with one choice of its own: the kernel talks over unix sockets (no TCP port
is opened, none is raced for).  Anything unusual is left to jupyter_client: no spec found, a
spec naming its own provisioner, not POSIX, or a command other than the one jupyter_client
would run (checked when the process is handed over; the process is then stopped and the
kernel started the usual way).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from string import Template


@dataclass
class Launched:
    process: subprocess.Popen
    kernel_id: str
    connection_file: str
    info: dict                      # the connection file's content
    argv: list[str]                 # the command the process runs
    resource_dir: str
    launch_args: dict = field(default_factory=dict)   # how jupyter_client starts it again

    def discard(self) -> None:
        """Stop the process and remove its files (it was not handed over)."""
        self.process.kill()
        self.process.wait()
        for path in [self.connection_file] + [f"{self.info['ip']}-{self.info[p]}" for p in PORTS]:
            try:
                os.remove(path)
            except OSError:
                pass


PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
MAX_SOCKET_PATH = 100        # a unix socket's path holds 104-108 bytes, by system


def kernel_dirs() -> list[str]:
    """Where kernel specs are looked for, in order: Jupyter's data paths, then IPython's
    kernels (without importing IPython)."""
    from jupyter_core.paths import jupyter_path
    ipython_dir = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    return jupyter_path("kernels") + [os.path.join(ipython_dir, "kernels")]


# ipykernel's own ``python3`` when no spec of that name is installed (what
# ipykernel.kernelspec.get_kernel_dict() says), found without importing ipykernel
NATIVE_NAME = "python3"
NATIVE_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def native_resources() -> str | None:
    found = importlib.util.find_spec("ipykernel")
    if found is None or not found.submodule_search_locations:
        return None
    return os.path.join(found.submodule_search_locations[0], "resources")


def find_spec(kernel_name: str) -> tuple[str, dict] | None:
    """(resource folder, kernel.json) of the kernel ``kernel_name``, looked up where
    jupyter_client looks (:func:`kernel_dirs`), then ipykernel's own ``python3``.  None
    when not found or unreadable."""
    want = kernel_name.lower()
    for folder in kernel_dirs():
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name, "kernel.json")
            if name.lower() == want and os.path.isfile(path):
                try:
                    with open(path, encoding="utf-8") as f:
                        spec = json.load(f)
                except (OSError, ValueError):
                    return None
                return (os.path.join(folder, name), spec) if isinstance(spec, dict) else None
    resources = native_resources() if want == NATIVE_NAME else None
    if resources is None:
        return None
    return resources, {"argv": list(NATIVE_ARGV), "language": "python", "env": {}}


# ipykernel imports debugpy as it starts (~60 ms of its boot, measured in a profile of
# IPKernelApp.initialize) to offer a debugger to a frontend; a headless run has none.  With
# the module hidden the kernel starts without it and says so (kernel_info: debugger false).
# Everything else is ipykernel_launcher's: the working directory leaves sys.path first.
_NO_DEBUGGER = ("import sys, os; sys.path[:1] = [] if sys.path[:1] in ([''], [os.getcwd()]) else sys.path[:1]; "
                "sys.modules['debugpy'] = None; from ipykernel.kernelapp import launch_new_instance; "
                "launch_new_instance()")


def headless_argv(argv: list[str]) -> list[str]:
    """A kernel spec's command for a headless kernel: ipykernel's own launcher is started
    without the debugger; any other command is left as it is."""
    if len(argv) >= 3 and list(argv[1:3]) == ["-m", "ipykernel_launcher"]:
        return [argv[0], "-c", _NO_DEBUGGER, *argv[3:]]
    return list(argv)


def command(spec_argv: list[str], connection_file: str, resource_dir: str) -> list[str]:
    """The process's command, formatted as jupyter_client's ``format_kernel_cmd`` does."""
    cmd = list(spec_argv)
    if cmd and cmd[0] in {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}:
        cmd[0] = sys.executable
    ns = {"connection_file": os.path.realpath(connection_file), "prefix": sys.prefix, "resource_dir": resource_dir}
    return [re.sub(r"\{([A-Za-z0-9_]+)\}", lambda m: str(ns.get(m.group(1), m.group())), a) for a in cmd]


def launch(kernel_name: str, env: dict[str, str], cwd: str, extra_arguments: list[str]) -> Launched | None:
    """Start the kernel process; None when jupyter_client should start it instead."""
    if os.name != "posix":
        return None
    found = find_spec(kernel_name)
    if found is None:
        return None
    resource_dir, spec = found
    argv, kernel_env = spec.get("argv"), spec.get("env") or {}
    if ((spec.get("metadata") or {}).get("kernel_provisioner") or not isinstance(argv, list) or not argv
            or not isinstance(kernel_env, dict)):
        return None
    prefix = os.path.join(tempfile.gettempdir(), "nb2pipe-" + secrets.token_hex(6))
    if len(os.fsencode(prefix)) + 3 > MAX_SOCKET_PATH:
        return None                  # a socket path this long cannot be bound: TCP, through jupyter_client
    info = {**{p: i + 1 for i, p in enumerate(PORTS)}, "ip": prefix, "key": str(uuid.uuid4()),
            "transport": "ipc", "signature_scheme": "hmac-sha256", "kernel_name": kernel_name}
    connection_file = prefix + ".json"
    fd = os.open(connection_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    cmd = command(headless_argv(argv) + list(extra_arguments), connection_file, resource_dir)
    run_env = dict(env)
    run_env.update({k: Template(str(v)).safe_substitute(env) for k, v in kernel_env.items()})
    if str(spec.get("language", "")).lower().startswith("python"):
        run_env.pop("PYTHONEXECUTABLE", None)
    run_env["JPY_PARENT_PID"] = str(os.getpid())      # the kernel exits if this process dies
    try:
        process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=cwd, env=run_env, start_new_session=True)
    except OSError:
        os.remove(connection_file)
        return None
    return Launched(process, str(uuid.uuid4()), connection_file, info, cmd, resource_dir,
                    {"env": dict(env), "cwd": cwd, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
                     "extra_arguments": list(extra_arguments)})


async def adopt(launched: Launched, kernel_name: str, spec_manager):
    """A jupyter_client kernel manager of the launched process, or None (the process is
    stopped) when jupyter_client would have started another kernel or command."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.provisioning import KernelProvisionerFactory
    km = AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=spec_manager,
                            connection_file=launched.connection_file)
    km.load_connection_info(launched.info)
    km.kernel_id = launched.kernel_id
    km._launch_args = dict(launched.launch_args)     # a restart starts the kernel as jupyter_client does
    try:
        spec = km.kernel_spec
        same = (os.path.realpath(spec.resource_dir) == os.path.realpath(launched.resource_dir)
                and km.format_kernel_cmd(launched.launch_args["extra_arguments"]) == launched.argv)
    except Exception:  # noqa: BLE001 - no such kernel for jupyter_client: it says so when it starts one
        same = False
    if not same:
        launched.discard()
        return None
    provisioner = KernelProvisionerFactory.instance(parent=km.parent).create_provisioner_instance(
        km.kernel_id, spec, parent=km)
    process = launched.process
    provisioner.process, provisioner.pid, provisioner.cwd = process, process.pid, launched.launch_args["cwd"]
    try:
        provisioner.pgid = os.getpgid(process.pid)
    except OSError:
        provisioner.pgid = None
    provisioner.connection_info = km.get_connection_info()
    km.provisioner = provisioner
    km._attempted_start = True          # as after its own start: each later start or stop is awaited anew
    await km.post_start_kernel()        # its control channel
    return km
