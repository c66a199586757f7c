"""Asynchronous served-forecast logger for Serve replicas.

The request path only calls :meth:`ForecastLogger.log`, which puts one item per request on a
bounded queue without waiting (``put_nowait``): it never blocks and never raises. An item is the
request's records, or a function that builds them, so that even building the records happens
off the request path. A daemon thread takes items off the queue, builds and writes them to the
store in batches. While the store is slow or down the batch in hand is
retried (after ``retry_s``) and the queue fills; once it is full, new records are *dropped and
counted* (:attr:`ForecastLogger.dropped`), so memory stays bounded and requests stay fast.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from energy.monitoring.store import ForecastRecord

log = logging.getLogger("energy.monitoring")
Writer = Callable[[Sequence[ForecastRecord]], object]
Item = Sequence[ForecastRecord] | Callable[[], Sequence[ForecastRecord]]


class ForecastLogger:
    """Bounded queue + one background writer thread.

    Args:
        write: writes a batch (e.g. ``Store.add_forecasts``); may raise when the store is down.
        queue_size: requests (items) held at most; beyond it new ones are dropped, and their
            records counted in :attr:`dropped`.
        batch_size: records per write (at least; one item is never split).
        flush_s: longest a record waits in the queue before its batch is written.
        retry_s: pause before retrying a failed batch.
    """

    def __init__(
        self,
        write: Writer,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_s: float = 0.5,
        retry_s: float = 1.0,
    ) -> None:
        self.write = write
        self.batch_size, self.flush_s, self.retry_s = batch_size, flush_s, retry_s
        self.dropped = 0  # records refused because the queue was full
        self.written = 0
        self.write_errors = 0  # failed write attempts (each batch is retried)
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=queue_size)
        self._pending: list[ForecastRecord] = []  # the batch being written (retried on failure)
        self._stop = threading.Event()
        self._drop_lock = threading.Lock()  # taken only when dropping
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    # ---- request path -------------------------------------------------------------------------
    def log(self, records: Item, n: int | None = None) -> int:
        """Queue one request's records (or a function building them; ``n``: how many it will
        build) without blocking; return how many records were dropped (queue full)."""
        try:
            self._queue.put_nowait(records)
            lost = 0
        except queue.Full:
            lost = n if n is not None else len(records)  # type: ignore[arg-type]
            with self._drop_lock:
                self.dropped += lost
        if self._thread is None:
            self.start()
        return lost

    # ---- background ---------------------------------------------------------------------------
    def start(self) -> ForecastLogger:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="forecast-logger", daemon=True)
            self._thread.start()
        return self

    def _take(self) -> None:
        """Fill ``_pending`` up to a batch: wait at most ``flush_s`` for the first item."""
        deadline = time.monotonic() + self.flush_s
        while len(self._pending) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                self._pending.extend(item() if callable(item) else item)
            except Exception as e:  # a record that cannot be built is lost, and counted
                with self._drop_lock:
                    self.dropped += 1
                log.warning("forecast logger: cannot build records: %s", e)

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty() and not self._pending):
            if not self._pending:
                self._take()
            if not self._pending:
                with self._idle:
                    self._idle.notify_all()
                continue
            try:
                self.write(self._pending)
            except Exception as e:  # the store is down or slow: keep the batch, try again
                self.write_errors += 1
                if self.write_errors == 1 or self.write_errors % 100 == 0:
                    log.warning(
                        "forecast logger: write failed (%s attempts): %s",
                        self.write_errors,
                        " ".join(str(e).split())[:200],
                    )
                if self._stop.wait(self.retry_s):
                    return  # stopping with the store down: what is left stays unwritten
                continue
            self.written += len(self._pending)
            self._pending = []

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout (e.g. store down)."""
        if self._thread is None:
            return self._queue.empty()
        end = time.monotonic() + timeout
        with self._idle:
            while not (self._queue.empty() and not self._pending):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to ``timeout``) and stop the thread."""
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return self._queue.qsize() + len(self._pending)

    def stats(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "written": self.written,
            "dropped": self.dropped,
            "write_errors": self.write_errors,
        }
