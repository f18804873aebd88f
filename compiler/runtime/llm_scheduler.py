"""Iteration-level scheduling of generation requests on one decode thread.

Every iteration the thread admits waiting requests (their prefill), then advances each running
request by one token; a request that finishes, hits a stop string or is cancelled (its client
went away) leaves before the next iteration, and a new one joins at the next. So many clients'
requests decode together and none waits for another to finish.

Why not og.Engine (onnxruntime-genai 0.18's continuous-batching engine): its dynamic batching,
per-request seeds and stop strings need a model built with paged attention, which the builder
supports only for CUDA with fp16/bf16 (docs/architecture.md); on CPU the Engine refuses both.
One og.Generator per request runs everywhere and keeps every OpenAI sampling option.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .llm_backend import LLM, Sampling

log = logging.getLogger("runtime")
# The longest the decode thread waits for the event loop to take an iteration's tokens: a loop
# busy that long (a huge prompt being tokenized) does not hold the other requests' decoding.
DELIVERY_WAIT_S = 0.5


@dataclass
class Event:
    text: str  # new text for the client ("" with the last event when nothing is left)
    finish: str | None = None  # stop | length | cancelled | error, on the last event


@dataclass
class Sequence:
    """One request's generation, shared by the handler (event loop) and the decode thread."""
    prompt: np.ndarray
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    arrival: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    completion_tokens: int = 0
    first_token_at: float | None = None
    text: str = ""  # all generated text so far (stop strings are searched here)
    sent: int = 0  # characters of text already sent
    generator: object = None
    stream: object = None


class Scheduler:
    def __init__(self, llm: LLM, max_running: int, metrics) -> None:
        self.llm = llm
        self.max_running = max_running
        self.metrics = metrics
        self.waiting: collections.deque[Sequence] = collections.deque()
        self.running: list[Sequence] = []
        self.pending: list[tuple[Sequence, Event]] = []  # this iteration's events, delivered at its end
        self.wake = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self.thread.start()

    def submit(self, seq: Sequence) -> None:
        with self.wake:
            self.waiting.append(seq)
            self.metrics.gen_waiting.set(len(self.waiting))
            self.wake.notify()

    def cancel(self, seq: Sequence) -> None:
        """The client went away: the decode thread drops the request before its next token."""
        seq.cancelled = True

    def close(self) -> None:
        with self.wake:
            self.closed = True
            self.wake.notify()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.closed and not self.waiting and not self.running:
                    self.wake.wait()
                if self.closed:
                    return
                admitted = []
                while self.waiting and len(self.running) + len(admitted) < self.max_running:
                    admitted.append(self.waiting.popleft())
                self.metrics.gen_waiting.set(len(self.waiting))
            for seq in admitted:
                self._admit(seq)
            self.metrics.gen_running.set(len(self.running))
            for seq in list(self.running):
                self._step(seq)
            self.metrics.gen_running.set(len(self.running))
            self._deliver()

    def _admit(self, seq: Sequence) -> None:
        if seq.cancelled:
            self._finish(seq, "cancelled", running=False)
            return
        try:
            seq.generator = self.llm.generator(seq.prompt, seq.sampling)
            seq.stream = self.llm.stream()
        except Exception:
            log.exception("prefill failed")
            self._finish(seq, "error", running=False)
            return
        self.running.append(seq)

    def _step(self, seq: Sequence) -> None:
        if seq.cancelled:
            self._finish(seq, "cancelled")
            return
        try:  # the detokenizer too: an exception escaping here would end the decode thread for everyone
            seq.generator.generate_next_token()
            token = int(seq.generator.get_next_tokens()[0])
            piece = None if token in self.llm.eos else seq.stream.decode(token)
        except Exception:
            log.exception("decode step failed")
            self._finish(seq, "error")
            return
        if seq.first_token_at is None:
            seq.first_token_at = time.perf_counter()
            self.metrics.ttft.observe(seq.first_token_at - seq.arrival)
        seq.completion_tokens += 1
        if piece is None:  # end of sequence
            self._finish(seq, "stop")
            return
        seq.text += piece
        if self._stopped(seq):
            self._finish(seq, "stop")
        elif seq.completion_tokens >= seq.sampling.max_tokens or seq.generator.is_done():
            self._finish(seq, "length")
        else:
            self._send(seq, len(seq.text) - _held_back(seq.text, seq.sampling.stop))

    def _deliver(self) -> None:
        """Hand the iteration's events to the event loop in one call, and wait until the loop has
        run it before the next iteration: decoding stays at most one token ahead of the sockets.

        Why wait: this thread would otherwise keep the GIL, and the loop thread, which needs it for
        every step of every write, would get it back only once per switch interval (5 ms). A fast
        model's stream then reached its client in one burst at the end (measured with the tests'
        tiny Llama: first byte at 0.6 s of a 0.65 s stream while the server's own TTFT said 2 ms).
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Sequence, Event]]] = {}
        for seq, event in self.pending:
            by_loop.setdefault(seq.loop, []).append((seq, event))
        self.pending = []
        for loop, batch in by_loop.items():
            delivered = threading.Event()
            try:
                loop.call_soon_threadsafe(_put, loop, batch, delivered)
            except RuntimeError:  # the loop is closed: the server is stopping
                continue
            delivered.wait(timeout=DELIVERY_WAIT_S)

    def _stopped(self, seq: Sequence) -> bool:
        """Cut the text at the first stop string (which the client never sees)."""
        start = max(0, seq.sent - max((len(s) for s in seq.sampling.stop), default=0))
        cuts = [i for i in (seq.text.find(s, start) for s in seq.sampling.stop) if i >= 0]
        if not cuts:
            return False
        seq.text = seq.text[:min(cuts)]
        return True

    def _send(self, seq: Sequence, upto: int) -> None:
        if upto > seq.sent:
            self.pending.append((seq, Event(seq.text[seq.sent:upto])))
            seq.sent = upto

    def _finish(self, seq: Sequence, reason: str, running: bool = True) -> None:
        if running:
            self.running.remove(seq)
        seq.generator = seq.stream = None  # frees the KV cache now, not when the handler lets go
        self.pending.append((seq, Event(seq.text[seq.sent:] if reason != "cancelled" else "", reason)))
        seq.sent = len(seq.text)
        m = self.metrics
        m.generation_tokens.inc(seq.completion_tokens)
        now = time.perf_counter()
        m.e2e.observe(now - seq.arrival)
        if seq.first_token_at is not None and seq.completion_tokens > 1:
            m.tpot.observe((now - seq.first_token_at) / (seq.completion_tokens - 1))


def _put(loop: asyncio.AbstractEventLoop, batch: list[tuple[Sequence, Event]], delivered: threading.Event) -> None:
    """On the loop: queue the events, then release the decode thread on the loop's next turn. The
    handlers may write after that; the next iteration's delivery waits for the loop again, so
    decoding still stays at most one iteration ahead of the sockets."""
    for seq, event in batch:
        seq.events.put_nowait(event)
    loop.call_soon(delivered.set)


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Characters at the end of text that could begin a stop string: not sent until decided."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest
