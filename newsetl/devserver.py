"""Prefect servers that live as long as what needs them: a throw-away `prefect server` on a free local port for
tests and benchmarks (never for production), and Prefect's temporary server for one command run without one."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def prefect_server(home: Path, timeout: float = 90) -> Iterator[dict[str, str]]:
    """Start `prefect server` with its own PREFECT_HOME; yield an environment whose PREFECT_API_URL reaches it.

    The server is stopped by its process group when the block ends, whatever happened inside.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    with (home / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client_env = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        try:
            deadline = time.monotonic() + timeout
            while subprocess.run(
                [sys.executable, "-m", "prefect", "server", "status"], env=client_env, capture_output=True
            ).returncode:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("prefect server did not start:\n" + (home / "server.log").read_text()[-3000:])
                time.sleep(1)
            yield client_env
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """Stop a process started in its own session, and its children: SIGTERM, then SIGKILL after `grace` s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def prefect_api() -> Iterator[None]:
    """Use the configured Prefect server, or start Prefect's temporary one for this process.

    Prefect would start the temporary server on its own, but then each extract worker process would start
    another one (seconds each): started here, its address reaches the workers with the other settings.
    """
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()  # stopped at exit, after Prefect has sent the last logs to it
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield
