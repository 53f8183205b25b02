"""MCMC fits off the serving path: a bounded pool of worker processes with a bounded queue.

An MCMC fit takes seconds to minutes of CPU; run in the server's own threads, a few of
them starved ``/v1/predict`` (p99 from 10 ms to over a second). Here each fit runs in
one of ``workers`` long-lived processes (``LCPFN_MCMC_WORKERS``), with few threads and
a lower CPU priority, so the serving process keeps its cores; at most ``queue`` more
requests wait (``LCPFN_MCMC_QUEUE``), the next is refused (429 with ``Retry-After``).

A request's budget is wall-clock from its arrival: time queued counts, and the fit in
the worker gets what is left (compilation included). A fit still running past the
budget (and a little grace) has its worker terminated and replaced; its request, like
one whose worker crashed, gets :class:`BudgetExceededError` or :class:`WorkerCrashedError`
(both 503). Workers are reused, so PyMC's imports and compiled models stay warm.

>>> pool = MCMCPool(workers=1, queue=1)  # doctest: +SKIP
>>> future = pool.submit({"x": [1, 2, 3, 4], "y": [3.0, 2.5, 2.3, 2.2], "horizon": 10}, budget_s=30)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from lcpfn.errors import BudgetExceededError, LCPFNError

log = logging.getLogger("lcpfn.serve.mcmc")

# Seconds a fit may run past its request's budget before its worker is terminated: the
# sampler stops itself at the budget, and collecting its draws takes a moment.
GRACE_S = 3.0
_POLL_S = 0.05


class PoolFullError(LCPFNError, RuntimeError):
    """Every worker is busy and the queue is full (HTTP 429); ``retry_after`` is a guess in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class WorkerCrashedError(LCPFNError, RuntimeError):
    """The worker running a fit died (HTTP 503); the pool has replaced it."""


@dataclass
class _Job:
    kwargs: dict  # MCMCExtrapolator options under "options", predict's arguments under "curve"
    deadline: float  # time.monotonic() by which the answer is due
    budget_s: float
    future: Future = field(default_factory=Future)


def _work(conn, threads: int, nice: int) -> None:
    """A worker process: fit what arrives on ``conn``, answer (ok, result-or-exception) on it."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        os.nice(nice)
    except OSError:
        pass
    from lcpfn.mcmc import MCMCExtrapolator

    try:  # warm: the first request should not pay for PyMC's imports
        import pymc  # noqa: F401
    except ImportError:
        pass
    while True:
        try:
            kwargs = conn.recv()
        except EOFError:
            return
        try:
            pred = MCMCExtrapolator(**kwargs["options"]).predict(**kwargs["curve"])
            conn.send((True, pred))
        except Exception as e:  # sent back to the request; the worker stays up
            conn.send((False, e))


class _Worker:
    def __init__(self, ctx, threads: int, nice: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_work, args=(child, threads, nice), daemon=True, name="lcpfn-mcmc-worker")
        self.process.start()
        child.close()
        self.job: _Job | None = None

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class MCMCPool:
    """``submit`` fits to ``workers`` processes; at most ``queue`` more may wait."""

    def __init__(self, *, workers: int = 1, queue: int = 2, threads: int = 1, nice: int = 10):
        if workers < 1 or queue < 0:
            raise ValueError(f"need workers >= 1 and queue >= 0, got {workers=}, {queue=}")
        self.max_waiting, self.threads, self.nice = queue, threads, nice
        self._ctx = mp.get_context("spawn")  # no forked copy of the server's threads and ONNX session
        self._lock = threading.Lock()
        self._waiting: list[_Job] = []
        self._workers = [_Worker(self._ctx, threads, nice) for _ in range(workers)]
        self._closed = threading.Event()
        self.crashes = self.timeouts = 0
        self._thread = threading.Thread(target=self._run, name="lcpfn-mcmc-dispatcher", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------------- API

    def submit(self, kwargs: dict, budget_s: float) -> Future:
        """A future of the fit's :class:`~lcpfn.prediction.Prediction`; raises :class:`PoolFullError` at once
        when it cannot be queued. ``kwargs``: ``{"options": MCMCExtrapolator's, "curve": predict's}``."""
        job = _Job(kwargs, time.monotonic() + budget_s, budget_s)
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the MCMC pool is closed")
            busy = sum(w.job is not None for w in self._workers)
            if busy + len(self._waiting) >= len(self._workers) + self.max_waiting:
                raise PoolFullError(
                    f"all {len(self._workers)} MCMC workers are busy and {len(self._waiting)} requests wait "
                    f"(LCPFN_MCMC_WORKERS, LCPFN_MCMC_QUEUE)",
                    retry_after=max(1, round(self._soonest_free())),
                )
            self._waiting.append(job)
        return job.future

    def close(self) -> None:
        """Stop the workers; waiting and running requests get 503."""
        self._closed.set()
        self._thread.join(10)
        with self._lock:
            for job in self._waiting:
                _fail(job, BudgetExceededError("the service is shutting down"))
            self._waiting.clear()
            for w in self._workers:
                if w.job is not None:
                    _fail(w.job, BudgetExceededError("the service is shutting down"))
                w.stop()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    # ----------------------------------------------------------------------- dispatcher

    def _soonest_free(self) -> float:
        now = time.monotonic()
        ends = [w.job.deadline - now for w in self._workers if w.job is not None]
        return max(0.0, min(ends, default=0.0)) + sum(j.budget_s for j in self._waiting) / len(self._workers)

    def _run(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                self._collect()
                self._expire()
                self._dispatch()
            time.sleep(_POLL_S)

    def _collect(self) -> None:
        for i, w in enumerate(self._workers):
            if w.job is None:
                if not w.process.is_alive():  # died idle: replace it quietly
                    self._replace(i)
                continue
            if w.conn.poll():
                try:
                    ok, result = w.conn.recv()
                except (EOFError, OSError):
                    self._crashed(i)
                    continue
                job, w.job = w.job, None
                if ok:
                    job.future.set_result(result)
                else:
                    _fail(job, result)
            elif not w.process.is_alive():
                self._crashed(i)

    def _expire(self) -> None:
        now = time.monotonic()
        for job in [j for j in self._waiting if now >= j.deadline]:
            self._waiting.remove(job)
            _fail(job, BudgetExceededError(f"time_budget_s={job.budget_s:g} ran out while the MCMC request waited in the queue"))
        for i, w in enumerate(self._workers):
            if w.job is not None and now >= w.job.deadline + GRACE_S:
                job = w.job
                self.timeouts += 1
                log.warning("terminating an MCMC worker past its request's budget of %g s", job.budget_s)
                self._replace(i)
                _fail(job, BudgetExceededError(f"time_budget_s={job.budget_s:g} ran out before the MCMC worker answered"))

    def _dispatch(self) -> None:
        for w in self._workers:
            if w.job is None and self._waiting:
                job = self._waiting.pop(0)
                left = job.deadline - time.monotonic()
                kwargs = {**job.kwargs, "options": {**job.kwargs["options"], "time_budget_s": max(0.1, left - 1.0)}}
                try:
                    w.conn.send(kwargs)
                except (OSError, ValueError):
                    self._waiting.insert(0, job)
                    continue
                w.job = job

    def _crashed(self, i: int) -> None:
        job = self._workers[i].job
        self.crashes += 1
        log.error("an MCMC worker died (exit code %s); replacing it", self._workers[i].process.exitcode)
        self._replace(i)
        if job is not None:
            _fail(job, WorkerCrashedError("the MCMC worker running this fit crashed; the pool has replaced it, retry"))

    def _replace(self, i: int) -> None:
        self._workers[i].job = None
        self._workers[i].stop()
        self._workers[i] = _Worker(self._ctx, self.threads, self.nice)


def _fail(job: _Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
