"""Runs requests on the backend, always in a worker thread so the event loop keeps serving.

Batching on: requests queue per shape signature (inputs of other non-batch shapes are never
mixed); when the worker is free, the oldest group is given up to max_queue_delay_ms (counted
from its oldest request) to fill to max_batch_size rows, then runs as one concatenated batch
whose results are split back per request. While the worker runs, the next batch gathers.
A batch that fails is run again request by request, so one request's bad values fail it alone.
The fill wait happens only while other requests are on their way in (being read or decoded):
a lone request never waits for company that is not coming.
Text requests carry unpadded token ids; their key is their length bucket (text.bucket), so
a batch holds texts of similar length and is padded only to its own longest row.
Batching off: each request runs on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backend import Backend
from .config import RuntimeConfig
from .errors import ServerError
from .metrics import Metrics
from .protocol import InferRequest
from .text import fixed_seq, pad

Results = dict[str, np.ndarray]


@dataclass
class _Pending:
    req: InferRequest
    future: asyncio.Future
    enqueued: float


class Engine:
    def __init__(self, backend: Backend, config: RuntimeConfig, metrics: Metrics,
                 inflight: Callable[[], int] = lambda: 0) -> None:
        self.backend = backend
        self.metrics = metrics
        self.outputs = tuple(t.name for t in config.outputs)
        self.text = config.text
        self.text_width = fixed_seq(config)  # a model fixed at one sequence length (TFLite): pad to it
        # One worker: the backend's own intra-op threads use the cores; a second caller would
        # only contend with them and with the event loop.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backend")

    async def infer(self, req: InferRequest) -> Results:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._direct, req, time.perf_counter())

    def _direct(self, req: InferRequest, enqueued: float) -> Results:
        self.metrics.queue_duration.observe(time.perf_counter() - enqueued)
        return self.work(self.inputs_of([req]), req.outputs, req.rows)

    def inputs_of(self, reqs: list[InferRequest]) -> dict[str, np.ndarray]:
        """The backend's inputs for these requests, in order: text padded here, tensors joined."""
        if reqs[0].tokens is not None:
            return pad([row for r in reqs for row in r.tokens.ids], self.text, self.text_width)
        return {n: _concat([r.inputs[n] for r in reqs]) for n in reqs[0].inputs}

    def work(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...], rows: int) -> Results:
        """One backend call, in the worker thread."""
        self.metrics.count_inputs(inputs)
        self.metrics.batch_size.observe(rows)
        return self.backend.run(inputs, outputs)

    def poke(self) -> None:
        """A request left the server (batching engines may stop waiting for it)."""

    async def close(self) -> None:
        self.executor.shutdown(wait=True)


class BatchingEngine(Engine):
    """Event-driven: dispatch() runs on every arrival, departure, deadline and batch end, and
    starts a batch whenever the worker is free and a group is ready. A finished batch starts
    the next one before its own responses are encoded, so the worker never waits on the loop."""

    def __init__(self, backend: Backend, config: RuntimeConfig, metrics: Metrics,
                 inflight: Callable[[], int] = lambda: 0) -> None:
        super().__init__(backend, config, metrics)
        self.loop = asyncio.get_running_loop()
        self.inflight = inflight  # requests the server is handling, here or not yet here
        self.inside = 0  # requests that entered infer() and have not left it
        self.max_rows = config.max_batch_size
        self.delay = config.max_queue_delay_ms / 1000.0
        self.groups: dict[tuple, deque[_Pending]] = {}
        self.rows: dict[tuple, int] = {}
        self.busy = False
        self.timer: asyncio.TimerHandle | None = None

    async def infer(self, req: InferRequest) -> Results:
        future = self.loop.create_future()
        group = self.groups.get(req.key)
        if group is None:
            group = self.groups[req.key] = deque()
            self.rows[req.key] = 0
        group.append(_Pending(req, future, time.perf_counter()))
        self.rows[req.key] += req.rows
        self.inside += 1
        try:
            self.dispatch()
            return await future
        finally:
            self.inside -= 1

    def poke(self) -> None:
        """A request left the server: a group waiting for company may now go."""
        if self.groups and not self.busy:
            self.dispatch()

    def dispatch(self) -> None:
        while not self.busy and self.groups:
            key = min(self.groups, key=lambda k: self.groups[k][0].enqueued)
            wait = self.groups[key][0].enqueued + self.delay - time.perf_counter()
            # Wait for company only while a group is short, its deadline is ahead, and other
            # requests are on their way in (read or decoded, not yet queued).
            if self.rows[key] < self.max_rows and wait > 0 and self.inflight() > self.inside:
                if self.timer is None:
                    self.timer = self.loop.call_later(wait, self._on_timer)
                return
            batch = self._take(key)
            if batch:
                self._start(batch)

    def _on_timer(self) -> None:
        self.timer = None
        self.dispatch()

    def _take(self, key: tuple) -> list[_Pending]:
        group = self.groups[key]
        batch: list[_Pending] = []
        rows = 0
        while group and rows + group[0].req.rows <= self.max_rows:
            item = group.popleft()
            self.rows[key] -= item.req.rows
            if not item.future.done():  # a request that timed out in the queue is dropped
                batch.append(item)
                rows += item.req.rows
        if not group:
            del self.groups[key]
            del self.rows[key]
        return batch

    def _start(self, batch: list[_Pending]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        start = time.perf_counter()
        for item in batch:
            self.metrics.queue_duration.observe(start - item.enqueued)
        reqs = [item.req for item in batch]
        self.busy = True
        running = self.loop.run_in_executor(self.executor, self.work_batch, reqs)
        running.add_done_callback(lambda f: self._done(batch, f))

    def work_batch(self, reqs: list[InferRequest]) -> list[Results | Exception]:
        """One batch in the worker thread: each request's results, or the error that is its own.

        When the batch fails, each request runs alone: one request's bad values (an id past the
        embedding table) must fail that request only, not every request that shared its batch.
        """
        outputs = tuple(n for n in self.outputs if any(n in r.outputs for r in reqs))
        total = sum(r.rows for r in reqs)
        try:
            results = self.work(self.inputs_of(reqs), outputs, total)
        except Exception as exc:
            if len(reqs) == 1:
                return [exc]
            return [self._alone(r) for r in reqs]
        try:
            return _split(results, reqs, total)
        except Exception as exc:
            return [exc] * len(reqs)

    def _alone(self, req: InferRequest) -> Results | Exception:
        try:
            return self.backend.run(self.inputs_of([req]), req.outputs)
        except Exception as exc:
            return exc

    def _done(self, batch: list[_Pending], running: asyncio.Future) -> None:
        self.busy = False
        self.dispatch()  # the worker starts on the next batch before these responses are encoded
        if running.cancelled():
            outcomes: list = [ServerError("the batch was cancelled")] * len(batch)
        elif running.exception() is not None:
            outcomes = [running.exception()] * len(batch)
        else:
            outcomes = running.result()
        for item, outcome in zip(batch, outcomes):
            if item.future.done():  # timed out while the batch ran
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        await super().close()


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _split(results: Results, reqs: list[InferRequest], total: int) -> list[Results]:
    for name, arr in results.items():
        if arr.ndim == 0 or arr.shape[0] != total:
            raise ServerError(f"the model returned {arr.shape} for output {name!r} from a batch of {total} rows; "
                             "it cannot be split per request (is dim 0 really the batch?)")
    parts: list[Results] = []
    start = 0
    for r in reqs:
        parts.append({n: results[n][start:start + r.rows] for n in r.outputs})
        start += r.rows
    return parts


def make_engine(backend: Backend, config: RuntimeConfig, metrics: Metrics,
                inflight: Callable[[], int] = lambda: 0) -> Engine:
    return (BatchingEngine if config.batching else Engine)(backend, config, metrics, inflight)
