"""Start the Dagster UI and the Streamlit dashboards together, on loopback by default."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lake.access import REQUIRED, auth_from_files, is_loopback, missing_auth_keys
from orchestration.instance import ensure_dagster_home

ROOT = Path(__file__).resolve().parent.parent


LOOPBACK = "127.0.0.1"
#: ``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In a child before it runs: ask the kernel for SIGTERM when ``serve`` dies.

    The children run in sessions of their own (so that stopping one stops its whole
    tree), which a signal to serve's group does not reach: without this a ``kill -9`` of
    serve left the UI servers listening for good. A SIGTERM lets ``dagster dev`` stop its
    webserver, daemon and code servers itself.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _listener(port: int) -> str | None:
    """Return which process listens on TCP ``port`` ("pid 123: dagster dev ..."), or
    None when none does. Linux: the socket's inode from /proc/net/tcp*, its owner from
    the file descriptors under /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    return f"pid {proc.name}: {command.strip()[:400]}"
        except OSError:
            continue
    return "another process"


def stop_groups(processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Stop processes started in process groups of their own (``start_new_session``), with
    their children: SIGTERM to every group, then SIGKILL to those still there after
    ``timeout_s`` in all."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def port_in_use(host: str, port: int) -> str | None:
    """Return what holds ``host:port`` (see :func:`_listener`), or None when it is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return _listener(port) or "another process"
    return None


class PortTaken(OSError):
    """A port serve needs is held by another process."""


class NotShareable(ValueError):
    """The dashboards would be served beyond loopback without sign-in (or with a secrets
    file that cannot be read)."""


def secrets_files(given: str | None) -> list[Path]:
    """Return the ``secrets.toml`` files the dashboards read: ``given``, or Streamlit's
    defaults (the user's, then the project's)."""
    if given:
        return [Path(given).expanduser().resolve()]
    return [Path.home() / ".streamlit" / "secrets.toml", ROOT / ".streamlit" / "secrets.toml"]


def check_shareable(host: str, secrets: str | None) -> None:
    """Refuse (:class:`NotShareable`) to serve the dashboards on a non-loopback ``host``
    unless ``[auth]`` configures OIDC sign-in in the secrets files."""
    files = secrets_files(secrets)
    if secrets and not files[0].is_file():
        raise NotShareable(f"--secrets {secrets}: no such file")
    if is_loopback(host):
        return
    try:
        missing = missing_auth_keys(auth_from_files(files))
    except ValueError as exc:
        raise NotShareable(f"--secrets: {exc}") from None
    if missing:
        raise NotShareable(
            f"--host {host} would show the whole lake to the network without sign-in: add an "
            f"[auth] section ({', '.join(REQUIRED)}) to {files[-1]} (see docs/dashboards.md), "
            "or serve on 127.0.0.1"
        )


def serve(
    host: str = LOOPBACK,
    dagster_port: int = 3000,
    streamlit_port: int = 8501,
    lake: str | None = None,
    dagster_host: str = LOOPBACK,
    secrets: str | None = None,
) -> int:
    """Run ``dagster dev -w workspace.yaml`` and ``streamlit run``; stop both on Ctrl-C.

    The dashboards listen on ``host``; the Dagster UI on ``dagster_host``, loopback unless
    asked otherwise: it has no sign-in, and its GraphQL API launches runs that write
    wherever the user can. Each child runs in its own process group because ``dagster
    dev`` started in the background ignores SIGINT/SIGTERM: the group is what gets
    stopped. Each child also dies with serve (:func:`_die_with_parent`).

    Returns
    -------
    int
        The exit code: 0 after Ctrl-C, otherwise the code of the child that stopped first.

    Raises
    ------
    PortTaken
        When a port is held already, naming the process that holds it.
    NotShareable
        When ``host`` is not loopback and no OIDC sign-in is configured.
    """
    check_shareable(host, secrets)
    for name, bind, port in (("--dagster-port", dagster_host, dagster_port),
                             ("--streamlit-port", host, streamlit_port)):  # fmt: skip
        holder = port_in_use(bind, port)
        if holder is not None:
            raise PortTaken(f"{name} {port} on {bind} is taken ({holder})")
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(ensure_dagster_home())
    if lake:
        env["FLOWLAKE_LAKE"] = lake
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", dagster_host, "-p", str(dagster_port)],
        [
            str(bin_dir / "streamlit"), "run", str(ROOT / "dashboards" / "app.py"),
            "--server.address", host, "--server.port", str(streamlit_port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            # A set server address is the URL Streamlit prints: on a wildcard host it would
            # otherwise ask a public service for this machine's external IP.
            "--browser.serverAddress", socket.gethostname() if host in ("0.0.0.0", "::") else host,
            *(["--secrets.files", str(secrets_files(secrets)[0])] if secrets else []),
        ],
    ]  # fmt: skip
    # SIGTERM (a service manager, `timeout`, CI) must stop the children too, not orphan them.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Each UI runs under a guard (orchestration/guard.py) that takes its whole process group
    # down, grandchildren included, within seconds of serve stopping or dying.
    guard = [sys.executable, "-m", "orchestration.guard"]
    children = [
        subprocess.Popen(
            [*guard, *cmd], cwd=ROOT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        for cmd in commands
    ]
    if dagster_host not in (LOOPBACK, "localhost", "::1"):
        print(
            f"flowlake: warning: the Dagster UI on {dagster_host} has no sign-in: anyone who "
            "reaches it can launch runs that write where this user can",
            file=sys.stderr,
            flush=True,
        )
    print(f"Dagster UI:  http://{dagster_host}:{dagster_port}", flush=True)
    print(f"Dashboards:  http://{host}:{streamlit_port}", flush=True)
    print("Ctrl-C stops both.", flush=True)
    code = 0
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        code = next(child.returncode for child in children if child.returncode is not None)
    except KeyboardInterrupt:
        code = 0
    finally:
        stop_groups(children, timeout_s=10)
    return code
