"""Running code in threads released at once, each on its own database connection (PostgreSQL tests)."""

import threading

from django.db import connection

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
