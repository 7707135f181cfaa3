"""Start and stop the real processes the tests talk to: Celery workers, web servers,
a private Redis, the S3 server. Each waits until it answers, and is killed at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout}s")


STARTED: list[Process] = []


class Process:
    """A child process in its own process group (so SIGKILL takes its children too)."""

    def __init__(self, args: list[str], env: dict[str, str], log_name: str) -> None:
        self.log_path = Path("/tmp") / f"kiln-test-{log_name}-{os.getpid()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        STARTED.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def stop_quietly(self) -> None:
        with contextlib.suppress(ProcessLookupError, ValueError):
            self.stop()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


def ready_or_stopped(process: Process, check: Callable[[], bool], *, what: str) -> Process:
    """Wait for `process` to answer; never leave one running that failed to start."""
    try:
        wait_until(check, timeout=60, what=what)
    except BaseException:
        process.kill()
        raise
    return process


def service_env(database_name: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment a Kiln process of the farm gets in tests."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kiln")
    if database_name:
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database_name}"
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    for name in ("KILN_TASK_TIME_LIMIT", "KILN_VISIBILITY_TIMEOUT", "KILN_SYNC_TIMEOUT"):
        env.setdefault(name, os.environ.get(name, ""))
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def start_worker(
    env: dict[str, str], *, name: str, queues: str = "svg,browser,ai,webhooks", concurrency: int = 2
) -> Process:
    node = f"{name}@kiln-test"
    worker = Process(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-n",
            node,
            "--concurrency",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log_name=name,
    )
    # The worker logs "<node> ready." once it consumes: connected, queues declared.
    return ready_or_stopped(
        worker, lambda: f"{node} ready." in worker.output(), what=f"worker {node}"
    )


def start_web(env: dict[str, str], *, name: str, port: int) -> Process:
    import requests

    web = Process(
        [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            env.get("WEB_CONCURRENCY", "1"),  # tests: one; the bench asks for two
            "--threads",
            "4",
            "--timeout",
            "60",
        ],
        env,
        log_name=name,
    )
    return ready_or_stopped(
        web,
        lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok,
        what=f"web server {name}",
    )


def start_embedded(
    var_dir: Path, port: int, *, name: str = "embedded", **settings: str
) -> tuple[Process, str, dict[str, str]]:
    """bin/kiln-run exactly as `make run` starts it: no DATABASE_URL, REDIS_URL or KILN_
    variable but `settings`. Returns the server, the demo key it printed, its environment."""
    import re

    import requests

    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "KILN_"))
    }
    env.update(KILN_VAR_DIR=str(var_dir), PORT=str(port), KILN_PYTHON=sys.executable, **settings)
    server = Process([str(ROOT / "bin" / "kiln-run")], env, log_name=name)
    ready_or_stopped(
        server,
        lambda: (
            "demo key: kiln_sk_" in server.output()
            and requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        ),
        what="bin/kiln-run",
    )
    key = re.search(r"demo key: (kiln_sk_\S+)", server.output()).group(1)
    return server, key, env


def start_beat(env: dict[str, str], schedule: Path, *, name: str = "beat") -> Process:
    beat = Process(
        [str(VENV_BIN / "celery"), "-A", "config", "beat", "-s", str(schedule), "-l", "INFO"],
        env,
        log_name=name,
    )
    return ready_or_stopped(beat, lambda: "beat: Starting" in beat.output(), what="celery beat")


def start_redis(port: int, name: str) -> Process:
    import redis

    server = Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        dict(os.environ),
        log_name=name,
    )
    return ready_or_stopped(server, lambda: redis.Redis(port=port).ping(), what="redis")


def start_s3(port: int) -> Process:
    import requests

    server = Process(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        dict(os.environ),
        log_name="s3",
    )
    return ready_or_stopped(
        server,
        lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code < 500,
        what="moto S3 server",
    )
