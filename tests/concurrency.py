"""Running code in threads released at once, each on its own database connection (PostgreSQL tests)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

THREADS = 20


def run_together(work, n: int = THREADS) -> list:
    """Run work(i) in n threads released at once; returns each result or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # the test inspects it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results


@contextmanager
def held_open(work) -> Iterator[None]:
    """Run work() in a transaction on a thread of its own (its own connection) and keep that transaction open,
    its locks held, for the duration of the block."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert holding.wait(timeout=30), "the transaction to hold open did not get there"
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def lock_wait_limit(seconds: int) -> None:
    """In the current transaction, fail a statement that waits longer than this for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{int(seconds)}s'")
