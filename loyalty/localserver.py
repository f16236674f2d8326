"""A local gunicorn on a free port, for the benchmarks (bench_api --server) and the fault tests.

Never part of a deployment: production runs gunicorn itself (README "Production").
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The database this process uses (a test run's too), as DATABASE_URL for a server process."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():  # type: ignore[attr-defined]
        return f"sqlite:///{db['NAME']}"
    raise RuntimeError("a server process needs PostgreSQL or an SQLite file it can open")


class LocalServer:
    """gunicorn serving `app` on 127.0.0.1 and a free port; `env` is added to this process's environment."""

    def __init__(self, *, app: str = "loyalty.wsgi:application", env: dict[str, str] | None = None,
                 workers: int = 1, worker_class: str = "sync", threads: int = 1, log: Path | None = None) -> None:
        self.app, self.env, self.log = app, env or {}, log
        self.workers, self.worker_class, self.threads = workers, worker_class, threads
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> LocalServer:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", **self.env}
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-m", "gunicorn", self.app, "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--worker-class", self.worker_class, "--threads", str(self.threads),
             "--keep-alive", "60", "--graceful-timeout", "5", "--log-level", "warning"],
            env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn did not start (exit {self.process.poll()})") from None
                time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The master's worker processes (Linux: read from /proc)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill_worker(self) -> int:
        """kill -9 one worker (the master starts another); returns its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_workers(self) -> list[int]:
        """kill -9 every worker (the master starts new ones); returns their pids."""
        pids = self.worker_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
