"""Start a server for a benchmark and stop it afterwards: shared by the scripts in bench/.

`started()` runs a command in a process group of its own, waits until `ready()` answers
(or the process exits, or the deadline passes: a SystemExit naming the log), yields the
process, and on the way out stops only that process group: SIGTERM, then SIGKILL if it
has not exited in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")

# The settings of a registry served for a benchmark: production-like (DEBUG off, so no query
# log kept in memory) but plain HTTP on loopback, so no HTTPS redirect and no secure cookies.
LOOPBACK_SETTINGS = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-for-a-throwaway-loopback-server-0123456789",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}


def manage(env: dict, *args: str) -> str:
    """Run a manage.py command of the registry in `env`; its output, or a SystemExit."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def started(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict,
    log: Path,
    ready: Callable[[], object],
    wait: float = 60,
    merge_output: bool = False,
) -> Iterator[subprocess.Popen]:
    with log.open("w") as log_fh:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=log_fh if merge_output else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if merge_output else log_fh,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + wait
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"{cmd[0]} exited early; see {log}")
                try:
                    ready()
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{cmd[0]} did not answer; see {log}") from None
                    time.sleep(0.3)
            yield proc
        finally:
            # Only the process group this script started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def gunicorn_command(port: int, workers: int, *extra: str) -> list[str]:
    """gunicorn serving the registry on 127.0.0.1:`port` with `workers` sync workers."""
    return [GUNICORN, "registry_site.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", *extra]
