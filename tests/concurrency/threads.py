"""Real threads for the PostgreSQL concurrency tests, each on its own connection."""

from __future__ import annotations

import threading

from django.db import connection


def run_threads(count: int, work) -> list:
    """Start `count` threads together; each returns a result or the exception it raised."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def runner(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
