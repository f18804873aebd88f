"""The server's lifecycle: load the model (retrying), serve, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from .backend import Backend, BackendError, load_backend
from .config import RuntimeConfig
from .engine import Engine, make_engine
from .llm_backend import LLM
from .llm_scheduler import Scheduler
from .metrics import Metrics
from .protocol import InferRequest, Signature
from .text import TextEncoder, bucket

log = logging.getLogger("runtime")

RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0


class RuntimeState:
    def __init__(self, config: RuntimeConfig, model_dir: Path) -> None:
        self.config = config
        self.model_dir = model_dir
        self.sig = Signature.of(config)
        self.metrics = Metrics(config)
        self.engine: Engine | None = None
        self.text: TextEncoder | None = None  # a text model's tokenizer, loaded with the model
        self.generator: Scheduler | None = None  # a text-generation model's decode loop
        self.load_error = ""
        self.draining = False
        self.inflight = 0
        self.last_active = time.monotonic()
        self._loader: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return (self.engine is not None or self.generator is not None) and not self.draining

    def not_ready_reason(self) -> str:
        if self.draining:
            return "the server is shutting down"
        if self.load_error:
            return f"the model failed to load (retrying): {self.load_error}"
        return "the model is loading"

    async def start(self) -> None:
        # Load in the background: liveness answers while a big model (or a TensorRT engine) loads.
        self._loader = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        delay = RETRY_FIRST_S
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self.config.generation is not None:
                    llm = await loop.run_in_executor(None, LLM, self.config.generation, self.model_dir,
                                                     self.config.threads)
                    break
                backend, text = await loop.run_in_executor(None, self._load_model)
                break
            except BackendError as exc:
                self.load_error = str(exc)
                log.error("model load failed: %s (retry in %.0f s)", exc, delay)
            except Exception as exc:  # a backend library's own failure: keep the trace for the operator
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("model load failed (retry in %.0f s)", delay)
            self.metrics.load_failures.inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        if self.config.generation is not None:
            # Sequences that decode together: serve.batching.max_batch_size; the rest wait.
            self.generator = Scheduler(llm, self.config.max_batch_size, self.metrics)
        else:
            self.text = text
            self.engine = make_engine(backend, self.config, self.metrics, lambda: self.inflight)
        self.load_error = ""
        if not self.draining:
            self.metrics.ready.set(1)
        log.info("model %s %s loaded (%s, %s)", self.config.model_name, self.config.model_version,
                 self.config.backend, self.config.artifact)

    def _load_model(self) -> tuple[Backend, TextEncoder | None]:
        text = self.config.text
        if text is None:
            return load_backend(self.config, self.model_dir), None
        if not (self.model_dir / text.tokenizer).is_file():
            raise BackendError(f"tokenizer file {self.model_dir / text.tokenizer} does not exist")
        return load_backend(self.config, self.model_dir), TextEncoder(text, self.model_dir)

    def tokenize(self, req: InferRequest) -> None:
        """A text request's token ids (a 400 names the text at fault), its length bucket, its metrics."""
        tokens = self.text.encode(req.texts, req.text_where)
        req.tokens = tokens
        req.key = ("text", bucket(tokens.longest))
        self.metrics.count_text(tokens)

    def begin_drain(self) -> None:
        """Called from the signal handler: flags only (no locks, no I/O)."""
        self.draining = True

    def drained(self, quiet_s: float) -> bool:
        """Nothing in flight or queued, and no request for quiet_s (clients have moved on)."""
        return self.inflight == 0 and time.monotonic() - self.last_active >= quiet_s

    async def stop(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
        self.metrics.ready.set(0)
        if self.engine is not None:
            await self.engine.close()
        if self.generator is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.generator.close)
