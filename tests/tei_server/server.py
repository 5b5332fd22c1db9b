"""The TEI-protocol HTTP server (aiohttp): routes, limits, permits, batching, fault injection."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

try:  # orjson writes f32 arrays with their shortest spelling, as serde_json does, and fast
    import orjson
except ImportError:  # pragma: no cover - orjson comes with langsmith; the fallback is slower
    orjson = None  # type: ignore[assignment]

from .config import TEIConfig, default_tokenization_workers
from .model import (
    Embedder,
    Encoded,
    Encoder,
    ModelInfo,
    check_model_type,
    default_model_path,
    info_model_type,
    make_embedder,
    read_model_info,
)
from .protocol import (
    MISSING_JSON_CONTENT_TYPE,
    PAYLOAD_TOO_LARGE,
    FrameworkError,
    Inputs,
    StructSpec,
    TEIError,
    decode_spec,
    embed_sparse_spec,
    embed_spec,
    is_json_content_type,
    openai_spec,
    overloaded,
    parse_request,
    rerank_spec,
    tokenize_spec,
    unhealthy,
    validation,
)
from .stats import DROPPED, ServerStats

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_INLINE_TOKENIZATION_CHARS = 4096
"""Inputs up to this many characters are tokenized on the event loop, longer ones in a thread."""
_DRAIN_LIMIT = 64 * 1024 * 1024
"""A body over ``payload_limit`` is read and discarded up to this size before the 413 is sent."""


class _Dropped(Exception):
    """The request must be answered by closing the connection."""


# ----------------------------------------------------------------------------------------------
# Concurrency permits (tokio::sync::Semaphore as TEI's Infer uses it)
# ----------------------------------------------------------------------------------------------


class Permits:
    """A FIFO semaphore with TEI's ``try_acquire`` / ``acquire().await``; event-loop only."""

    def __init__(self, total: int, stats: ServerStats) -> None:
        self.total = total
        self._free = total
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._stats = stats

    @property
    def free(self) -> int:
        """Permits not held."""
        return self._free

    def _changed(self) -> None:
        self._stats.permits_changed(self.total - self._free)

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` permits now, or none (what a batch of ``n`` ``try_acquire`` calls amounts to)."""
        if self._free >= n and not self._waiters:
            self._free -= n
            self._changed()
            return True
        return False

    async def acquire(self) -> None:
        """Wait for one permit, in arrival order."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            self._changed()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()
            else:
                try:
                    self._waiters.remove(future)
                except ValueError:
                    pass
            raise

    def release(self, n: int = 1) -> None:
        """Give back ``n`` permits, waking waiters."""
        self._free += n
        while self._free > 0 and self._waiters:
            future = self._waiters.popleft()
            if future.done():
                continue
            self._free -= 1
            future.set_result(None)
        self._changed()


# ----------------------------------------------------------------------------------------------
# Server-side batching: `slots` workers take batches from one queue (TEI's Queue + backend task)
# ----------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    encoded: Encoded
    future: asyncio.Future[tuple[np.ndarray, float, float]]
    enqueued: float


class Batcher:
    """Queues encodings and runs them in server-side batches on ``slots`` inference workers."""

    def __init__(self, embedder: Embedder, config: TEIConfig, stats: ServerStats) -> None:
        self._embedder = embedder
        self._config = config
        self._stats = stats
        self._entries: deque[_Entry] = deque()
        self._cond: asyncio.Condition | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._executor = ThreadPoolExecutor(max_workers=config.slots, thread_name_prefix="tei-slot")
        self._max_batch_tokens = config.max_batch_tokens
        self._max_batch_requests = config.max_batch_requests

    def start(self) -> None:
        """Start the workers (on the running loop)."""
        self._cond = asyncio.Condition()
        self._workers = [asyncio.ensure_future(self._worker()) for _ in range(self._config.slots)]

    async def close(self) -> None:
        """Stop the workers and the thread pool."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True, cancel_futures=True)
        for entry in self._entries:
            if not entry.future.done():
                entry.future.cancel()
        self._entries.clear()

    async def submit(self, encoded: Encoded) -> tuple[np.ndarray, float, float]:
        """Embed one encoding: ``(raw vector, queue seconds, inference seconds)``."""
        assert self._cond is not None
        future: asyncio.Future[tuple[np.ndarray, float, float]] = asyncio.get_running_loop().create_future()
        async with self._cond:
            self._entries.append(_Entry(encoded, future, time.perf_counter()))
            self._cond.notify()
        return await future

    def _take(self) -> list[_Entry]:
        """TEI's padded-model rule: ``n * max_len <= max_batch_tokens``, ``n <= max_batch_requests``."""
        batch: list[_Entry] = []
        max_len = 0
        while self._entries:
            entry = self._entries[0]
            if entry.future.done():
                self._entries.popleft()
                continue
            new_max = max(max_len, len(entry.encoded.ids))
            if batch and (len(batch) + 1) * new_max > self._max_batch_tokens:
                break
            if self._max_batch_requests is not None and len(batch) >= self._max_batch_requests:
                break
            batch.append(self._entries.popleft())
            max_len = new_max
        return batch

    async def _worker(self) -> None:
        assert self._cond is not None
        loop = asyncio.get_running_loop()
        while True:
            async with self._cond:
                await self._cond.wait_for(lambda: bool(self._entries))
                batch = self._take()
                if self._entries:
                    self._cond.notify()
            if not batch:
                continue
            start = time.perf_counter()
            try:
                vectors = await loop.run_in_executor(
                    self._executor, self._embedder.embed, [e.encoded for e in batch]
                )
                ms_per_token = self._config.ms_per_token
                if ms_per_token > 0:
                    tokens = sum(len(e.encoded.ids) for e in batch)
                    await asyncio.sleep(ms_per_token * tokens / 1000.0)
            except asyncio.CancelledError:
                for entry in batch:
                    if not entry.future.done():
                        entry.future.cancel()
                raise
            except Exception as exc:  # a model failure: TEI answers 424 Backend
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(TEIError("Backend", f"Backend error: {exc}"))
                continue
            inference = time.perf_counter() - start
            self._stats.inference_batch(len(batch))
            for row, entry in enumerate(batch):
                if not entry.future.done():
                    entry.future.set_result((vectors[row], start - entry.enqueued, inference))


# ----------------------------------------------------------------------------------------------
# Seeded fault injection
# ----------------------------------------------------------------------------------------------


class FaultInjector:
    """Draws two numbers per embed request from ``random.Random(seed)``: same seed, same faults."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test faults, not security

    def reseed(self, seed: int) -> None:
        """Restart the sequence."""
        self._rng = random.Random(seed)  # noqa: S311

    def draw(self, config: TEIConfig) -> tuple[str | None, bool]:
        """``(fault, slow)``: fault is ``"drop"``, ``"503"``, ``"429"`` or ``None``."""
        r_fault = self._rng.random()
        r_slow = self._rng.random()
        fault = None
        if r_fault < config.drop_connection:
            fault = "drop"
        elif r_fault < config.drop_connection + config.fail_503:
            fault = "503"
        elif r_fault < config.drop_connection + config.fail_503 + config.fail_429:
            fault = "429"
        slow = fault is None and r_slow < config.slow_fraction and config.slow_ms > 0
        return fault, slow


# ----------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------


def _json_response(
    payload: str | bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    response = web.Response(status=status, body=body, headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


def _empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


def _plain_response(error: FrameworkError) -> web.Response:
    response = web.Response(status=error.status, body=error.body.encode("utf-8"))
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _floats_json(vector: np.ndarray) -> str:
    """An f32 vector as serde_json writes it: the shortest round-tripping spelling, NaN as null."""
    if not np.isfinite(vector).all():
        return "[" + ",".join(str(v) if np.isfinite(v) else "null" for v in vector) + "]"
    return "[" + ",".join(map(str, vector)) + "]"


def _vectors_json(vectors: list[np.ndarray]) -> bytes:
    """``[[f32, ...], ...]``."""
    if orjson is not None:
        return bytes(orjson.dumps(np.ascontiguousarray(np.stack(vectors)), option=orjson.OPT_SERIALIZE_NUMPY))
    return ("[" + ",".join(_floats_json(v) for v in vectors) + "]").encode("ascii")


def _f32_json(value: Any) -> str:
    """One f32 as serde_json writes it (shortest round-tripping spelling; NaN and infinities as null)."""
    number = np.float32(value)
    return str(number) if np.isfinite(number) else "null"


def _sparse_json(vectors: list[np.ndarray]) -> bytes:
    """``[[{"index": usize, "value": f32}, ...], ...]``: the non-zero values, by ascending index
    (server.rs ``embed_sparse``'s ``sparsify``)."""
    rows = []
    for vector in vectors:
        indices = np.flatnonzero(vector != 0)
        values = vector[indices]
        rows.append(
            "["
            + ",".join(
                f'{{"index":{i},"value":{_f32_json(v)}}}'
                for i, v in zip(indices.tolist(), values, strict=True)
            )
            + "]"
        )
    return ("[" + ",".join(rows) + "]").encode("ascii")


class _Raw(str):
    """Pre-serialized JSON kept verbatim by ``_dumps_raw``."""


def _dumps_raw(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(k)}:{_dumps_raw(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps_raw(v) for v in value) + "]"
    return _dumps(value)


def _normalize(vector: np.ndarray) -> np.ndarray:
    """TEI's normalization: an f64 sum of squares, an f32 scale."""
    norm = float(np.sqrt(np.dot(vector.astype(np.float64), vector.astype(np.float64))))
    scale = np.float32(1.0 / norm) if norm > 0 else np.float32(np.inf)
    return (vector * scale).astype(np.float32)


@dataclass
class _ItemResult:
    vector: np.ndarray
    tokens: int
    tokenization: float
    queue: float
    inference: float


@dataclass(frozen=True)
class _EmbedParams:
    truncate: bool
    direction: str
    prompt_name: str | None
    normalize: bool
    dimensions: int | None
    sparse: bool = False
    """``/embed_sparse`` (``Infer::embed_sparse``) rather than ``Infer::embed_pooled``."""


class _Gate:
    """A per-request delay (``latency_ms`` + ``slow_ms``) that starts when the request is first served."""

    def __init__(self, delay_s: float) -> None:
        self._delay = delay_s
        self._deadline: float | None = None

    async def wait(self) -> None:
        if self._delay <= 0:
            return
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._delay
        remaining = self._deadline - now
        if remaining > 0:
            await asyncio.sleep(remaining)


# ----------------------------------------------------------------------------------------------
# The application
# ----------------------------------------------------------------------------------------------


class TEIApp:
    """One server instance: its model side, limits and aiohttp application.

    Build it (blocking: it loads the tokenizer and, in ``"model"`` mode, the model), then
    ``await start()`` on the serving loop, serve ``web_app``, and ``await close()``.
    """

    def __init__(self, config: TEIConfig, stats: ServerStats) -> None:
        config.validate()
        self.config = config
        self.stats = stats
        model_path = config.model_path or default_model_path(config.model_type)
        self.model_info: ModelInfo = read_model_info(model_path)
        check_model_type(self.model_info, config.model_type)  # TEI decides the type from the folder
        self.auto_truncate = config.effective_auto_truncate
        self.max_input_length = self._max_input_length()
        prompts = config.prompts if config.prompts is not None else None
        if prompts is None and config.prompts_from_model:
            prompts = self.model_info.prompts
        self.prompts = dict(prompts) if prompts is not None else None
        default_prompt = config.default_prompt
        if config.default_prompt_name is not None:  # checked at startup; TEI refuses to start
            name = config.default_prompt_name
            if self.prompts is None:
                raise ValueError(
                    f"`default-prompt-name` is set to `{name}` but no prompts were found in the "
                    "Sentence Transformers configuration"
                )
            if name not in self.prompts:
                raise ValueError(
                    f"`default-prompt-name` is set to `{name}` but it was not found in the Sentence "
                    f"Transformers prompts. Available prompts: {list(self.prompts)}"
                )
            default_prompt = self.prompts[name]
        self.encoder = Encoder(model_path, self.max_input_length, self.prompts, default_prompt)
        self.embedder = make_embedder(
            self.model_info, config.vectors, config.hash_dim, config.gelu, config.model_type
        )
        self.tokenization_workers = config.tokenization_workers or default_tokenization_workers()
        self.faults = FaultInjector(config.seed)
        self._embed_spec = embed_spec(config.is_v19)
        self._openai_spec = openai_spec(config.is_v19)
        self._tokenize_spec = tokenize_spec()
        self._decode_spec = decode_spec()
        self._embed_sparse_spec = embed_sparse_spec(config.is_v19)
        self._rerank_spec = rerank_spec(config.is_v19)
        self.permits: Permits | None = None
        self.batcher: Batcher | None = None
        self._tokenizer_pool: ThreadPoolExecutor | None = None
        self.web_app = web.Application(client_max_size=1 << 40)
        self.web_app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._routes = self._route_table()

    def _max_input_length(self) -> int:
        config = self.config
        if config.max_input_length is not None:
            return config.max_input_length
        seq = self.model_info.max_seq_length
        if seq > config.max_batch_tokens:
            if not self.auto_truncate:
                raise ValueError(
                    f"`max_batch_tokens` ({config.max_batch_tokens}) must be at least the model's "
                    f"max input length ({seq}) when auto-truncate is off: TEI refuses to start"
                )
            return config.max_batch_tokens
        return seq

    async def start(self) -> None:
        """Create the loop-bound parts (permits, batching workers, tokenization threads)."""
        self.permits = Permits(self.config.max_concurrent_requests, self.stats)
        self.batcher = Batcher(self.embedder, self.config, self.stats)
        self.batcher.start()
        self._tokenizer_pool = ThreadPoolExecutor(
            max_workers=self.tokenization_workers, thread_name_prefix="tei-tokenizer"
        )

    async def close(self) -> None:
        """Stop the workers and threads."""
        if self.batcher is not None:
            await self.batcher.close()
        if self._tokenizer_pool is not None:
            self._tokenizer_pool.shutdown(wait=True, cancel_futures=True)

    # -- routing ---------------------------------------------------------------------------------
    def _route_table(self) -> dict[str, dict[str, tuple[Handler, bool]]]:
        embed = (self._embed, True)
        # POST / and /invocations: the model type's own route (server.rs L1803-1838 at v1.9.3)
        default: tuple[Handler, bool] = {
            "reranker": (self._rerank, True),
            "splade": (self._embed_sparse, True),
        }.get(self.config.model_type, embed)
        table: dict[str, dict[str, tuple[Handler, bool]]] = {
            "/info": {"GET": (self._info, True)},
            "/health": {"GET": (self._health, False)},
            "/ping": {"GET": (self._health, False)},
            "/": {"GET": (self._health, False), "POST": default},
            "/invocations": {"POST": default},
            "/embed": {"POST": embed},
            "/embed_sparse": {"POST": (self._embed_sparse, True)},
            "/rerank": {"POST": (self._rerank, True)},
            "/v1/embeddings": {"POST": (self._openai, True)},
            "/embeddings": {"POST": (self._openai, True)},
            "/tokenize": {"POST": (self._tokenize, True)},
            "/decode": {"POST": (self._decode, True)},
        }
        if self.config.stats_route:
            table[self.config.stats_route] = {
                "GET": (self._stats_get, False),
                "DELETE": (self._stats_reset, False),
            }
        return table

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        methods = self._routes.get(path)
        status = DROPPED
        try:
            if methods is None:
                response: web.StreamResponse = _empty_response(404)
            else:
                method = "GET" if request.method == "HEAD" else request.method
                entry = methods.get(method)
                if entry is None:
                    allow = ",".join(sorted(set(methods) | ({"HEAD"} if "GET" in methods else set())))
                    response = _empty_response(405, {"Allow": allow})
                else:
                    handler, needs_auth = entry
                    api_key = self.config.api_key
                    if (
                        needs_auth
                        and api_key is not None
                        and request.headers.get("Authorization") != (f"Bearer {api_key}")
                    ):
                        response = _empty_response(401)
                    else:
                        response = await handler(request)
            status = response.status
            return response
        except _Dropped:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable() from None
        finally:
            self.stats.record(path, status)

    # -- simple routes ---------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.StreamResponse:
        if self.config.healthy:
            return _empty_response(200)
        return self._error(unhealthy(), openai=False)

    async def _info(self, request: web.Request) -> web.StreamResponse:
        config = self.config
        info: dict[str, Any] = {
            "model_id": config.model_id,
            "model_sha": config.model_sha,
            "model_dtype": config.model_dtype,
        }
        if config.is_v19:
            info["served_model_name"] = config.served_model_name or config.model_id
        info.update(
            {
                "model_type": info_model_type(self.model_info, config.model_type),
                "max_concurrent_requests": config.max_concurrent_requests,
                "max_input_length": self.max_input_length,
                "max_batch_tokens": config.max_batch_tokens,
                "max_batch_requests": config.max_batch_requests,
                "max_client_batch_size": config.max_client_batch_size,
                "auto_truncate": self.auto_truncate,
                "tokenization_workers": self.tokenization_workers,
                "version": config.version,
                "sha": config.sha,
                "docker_label": config.docker_label,
            }
        )
        return _json_response(_dumps(info))

    async def _stats_get(self, request: web.Request) -> web.StreamResponse:
        return _json_response(_dumps(self.stats.snapshot()))

    async def _stats_reset(self, request: web.Request) -> web.StreamResponse:
        self.stats.reset()
        return _empty_response(200)

    # -- request reading -------------------------------------------------------------------------
    async def _drain(self, request: web.Request) -> None:
        drained = 0
        while drained < _DRAIN_LIMIT:
            chunk = await request.content.readany()
            if not chunk:
                return
            drained += len(chunk)

    async def _read_json(self, request: web.Request, spec: StructSpec) -> dict[str, Any]:
        """axum's ``Json<T>``: content type, then the body within ``payload_limit``, then serde."""
        if not is_json_content_type(request.headers.get("Content-Type")):
            raise FrameworkError(415, MISSING_JSON_CONTENT_TYPE)
        limit = self.config.payload_limit
        declared = request.content_length
        if declared is not None and declared > limit:
            await self._drain(request)
            raise FrameworkError(413, PAYLOAD_TOO_LARGE)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                await self._drain(request)
                raise FrameworkError(413, PAYLOAD_TOO_LARGE)
            chunks.append(chunk)
        return parse_request(b"".join(chunks), spec)

    def _error(self, error: TEIError, openai: bool) -> web.Response:
        status = error.status(self.config.validation_status)
        if openai:
            body = _dumps({"message": error.message, "code": status, "type": error.error_type})
        else:
            body = _dumps({"error": error.message, "error_type": error.error_type})
        return _json_response(body, status)

    # -- embeddings ------------------------------------------------------------------------------
    async def _embed(self, request: web.Request) -> web.StreamResponse:
        return await self._embed_route(request, openai=False)

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._embed_route(request, openai=True)

    async def _embed_sparse(self, request: web.Request) -> web.StreamResponse:
        return await self._embed_route(request, openai=False, sparse=True)

    def _inject_fault(self, openai: bool) -> tuple[web.Response | None, bool]:
        """Draw this request's fault: ``(answer to send instead, slow)``; raises ``_Dropped``."""
        fault, slow = self.faults.draw(self.config)
        if fault == "drop":
            self.stats.fault("drop")
            raise _Dropped()
        if fault == "503":
            self.stats.fault("503")
            return self._error(unhealthy(), openai), False
        if fault == "429":
            self.stats.fault("429")
            return self._error(overloaded(), openai), False
        if slow:
            self.stats.fault("slow")
        return None, slow

    async def _embed_route(
        self, request: web.Request, openai: bool, sparse: bool = False
    ) -> web.StreamResponse:
        self.stats.request_started()
        try:
            spec = self._openai_spec if openai else self._embed_sparse_spec if sparse else self._embed_spec
            try:
                fields = await self._read_json(request, spec)
            except FrameworkError as exc:
                return _plain_response(exc)
            faulted, slow = self._inject_fault(openai)
            if faulted is not None:
                return faulted
            start = time.perf_counter()
            inputs: Inputs = fields["input" if openai else "inputs"]
            if openai:
                params = _EmbedParams(self.auto_truncate, "Right", None, True, fields["dimensions"])
            else:
                truncate = fields["truncate"]
                params = _EmbedParams(
                    self.auto_truncate if truncate is None else truncate,
                    fields["truncation_direction"],
                    fields["prompt_name"],
                    False if sparse else fields["normalize"],
                    None if sparse else fields["dimensions"],
                    sparse,
                )
            delay = self.config.latency_ms / 1000.0 + (self.config.slow_ms / 1000.0 if slow else 0.0)
            try:
                results = await self._embed_inputs(inputs, params, _Gate(delay))
            except TEIError as exc:
                return self._error(exc, openai)
            tokens = sum(r.tokens for r in results)
            self.stats.embedded(len(results), tokens)
            headers = self._metadata_headers(inputs, results, start)
            if openai:
                payload = self._openai_body(results, fields["encoding_format"], tokens)
            elif sparse:
                payload = _sparse_json([r.vector for r in results])
            else:
                payload = _vectors_json([r.vector for r in results])
            return _json_response(payload, 200, headers)
        finally:
            self.stats.request_finished()

    def _openai_body(self, results: list[_ItemResult], encoding_format: str, tokens: int) -> bytes:
        embeddings: list[Any]
        if encoding_format == "base64":
            embeddings = [base64.b64encode(r.vector.astype("<f4").tobytes()).decode("ascii") for r in results]
        else:
            embeddings = [r.vector for r in results]
        body = {
            "object": "list",
            "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeddings)],
            "model": self.config.response_model_name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        if orjson is not None:
            return bytes(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
        if encoding_format != "base64":
            for item in body["data"]:
                item["embedding"] = _Raw(_floats_json(item["embedding"]))
        return _dumps_raw(body).encode("utf-8")

    @staticmethod
    def _metadata_headers(inputs: Inputs, results: list[_ItemResult], start: float) -> dict[str, str]:
        """``x-*`` headers (lib.rs ``ResponseMetadata``): ms, truncated; batch times are means."""
        return TEIApp._headers(sum(len(item) for item in inputs.items), results, start)

    @staticmethod
    def _headers(chars: int, results: list[_ItemResult], start: float) -> dict[str, str]:
        """``x-*`` headers for ``chars`` computed characters and the items' results."""
        n = len(results)
        elapsed_ms = str(int((time.perf_counter() - start) * 1000))
        return {
            "x-compute-type": "gpu+optimized",
            "x-compute-time": elapsed_ms,
            "x-compute-characters": str(chars),
            "x-compute-tokens": str(sum(r.tokens for r in results)),
            "x-total-time": elapsed_ms,
            "x-tokenization-time": str(int(sum(r.tokenization for r in results) / n * 1000)),
            "x-queue-time": str(int(sum(r.queue for r in results) / n * 1000)),
            "x-inference-time": str(int(sum(r.inference for r in results) / n * 1000)),
        }

    async def _embed_inputs(self, inputs: Inputs, params: _EmbedParams, gate: _Gate) -> list[_ItemResult]:
        """Validate the batch, take permits as the version does, embed; the first failing item wins."""
        assert self.permits is not None
        items = inputs.items
        n = len(items)
        if inputs.is_batch:
            if n == 0:
                raise TEIError("Empty", "`inputs` cannot be empty")
            limit = self.config.max_client_batch_size
            if n > limit:
                raise TEIError("Validation", f"batch size {n} > maximum allowed batch size {limit}")
        self.stats.inputs_started(n)
        try:
            permits = self.permits
            if not inputs.is_batch or self.config.is_v19:
                if not permits.try_acquire(n):
                    raise overloaded()
                coros = [self._embed_item(item, params, gate, acquired=True) for item in items]
            else:  # TEI <= 1.8.3: batch inputs wait for their permit
                coros = [self._embed_item(item, params, gate, acquired=False) for item in items]
            outcomes = await asyncio.gather(*coros)
        finally:
            self.stats.inputs_finished(n)
        return _raise_first_error(outcomes)

    async def _embed_item(
        self, item: str | list[int], params: _EmbedParams, gate: _Gate, acquired: bool
    ) -> _ItemResult | TEIError:
        """``Infer::embed_pooled`` for one input; returns its error instead of raising it."""
        assert self.permits is not None and self.batcher is not None
        if not acquired:
            await self.permits.acquire()
        try:
            await gate.wait()
            start = time.perf_counter()
            self._check_embed_model(params)
            encoded = await self._encode(item, params)
            tokenization = time.perf_counter() - start
            vector, queue, inference = await self.batcher.submit(encoded)
            if params.dimensions is not None:
                if params.dimensions > vector.shape[0]:
                    raise validation("`dimensions` should be smaller than the maximum embedding dimension.")
                vector = vector[: params.dimensions]
            if params.normalize:
                vector = _normalize(vector)
            return _ItemResult(vector, len(encoded.ids), tokenization, queue, inference)
        except TEIError as exc:
            return exc
        finally:
            self.permits.release()

    def _check_embed_model(self, params: _EmbedParams) -> None:
        """``Infer::embed_sparse`` / ``embed_pooled`` / ``embed`` checks before tokenization, in TEI's
        order (infer.rs L169-187, L225-256, L334-342 at v1.9.3); a re-ranker is TEI's classifier."""
        model_type = self.config.model_type
        if params.sparse:
            if model_type != "splade":
                message = "Backend error: Model is not an embedding model with SPLADE pooling"
                raise TEIError("Backend", message)
            return
        if model_type == "splade" and params.normalize:
            raise TEIError("Backend", "Backend error: `normalize` is not available for SPLADE models")
        if params.dimensions == 0:
            raise validation("`dimensions` should be positive")
        if model_type == "reranker":
            raise TEIError("Backend", "Backend error: Model is not an embedding model")

    async def _encode(self, item: str | list[int], params: _EmbedParams) -> Encoded:
        args = (item, params.truncate, params.direction, params.prompt_name)
        if len(item) <= _INLINE_TOKENIZATION_CHARS:
            return self.encoder.encode(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._tokenizer_pool, self.encoder.encode, *args)

    # -- rerank ----------------------------------------------------------------------------------
    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        """``POST /rerank`` (server.rs ``rerank``, L307-474 at v1.9.3)."""
        self.stats.request_started()
        try:
            try:
                fields = await self._read_json(request, self._rerank_spec)
            except FrameworkError as exc:
                return _plain_response(exc)
            faulted, slow = self._inject_fault(openai=False)
            if faulted is not None:
                return faulted
            start = time.perf_counter()
            query: str = fields["query"]
            texts: list[str] = fields["texts"]
            delay = self.config.latency_ms / 1000.0 + (self.config.slow_ms / 1000.0 if slow else 0.0)
            try:
                results = await self._rerank_pairs(query, texts, fields, _Gate(delay))
                ranks = []
                for index, result in enumerate(results):
                    score = np.float32(result.vector[0])
                    if np.isnan(score):  # server.rs checks before sorting
                        raise TEIError("Backend", "score is NaN")
                    ranks.append((index, score))
            except TEIError as exc:
                return self._error(exc, openai=False)
            # Rust: a stable ascending sort by score, then reverse(): equal scores come out in
            # reverse input order (TEI's recorded [index 2, index 0] for two equal texts).
            ranks.sort(key=lambda rank: rank[1])
            ranks.reverse()
            tokens = sum(r.tokens for r in results)
            self.stats.embedded(len(results), tokens)
            chars = len(query) * len(texts) + sum(len(text) for text in texts)
            headers = self._headers(chars, results, start)
            items = []
            for index, score in ranks:
                text = f',"text":{_dumps(texts[index])}' if fields["return_text"] else ""
                items.append(f'{{"index":{index}{text},"score":{_f32_json(score)}}}')
            return _json_response("[" + ",".join(items) + "]", 200, headers)
        finally:
            self.stats.request_finished()

    async def _rerank_pairs(
        self, query: str, texts: list[str], fields: dict[str, Any], gate: _Gate
    ) -> list[_ItemResult]:
        """Check the request as TEI does, then score every ``(query, text)``; the first error wins."""
        assert self.permits is not None
        if not texts:
            raise TEIError("Empty", "`texts` cannot be empty")
        if self.config.model_type != "reranker":
            raise TEIError("Backend", "Backend error: model is not a re-ranker model")
        truncate = self.auto_truncate if fields["truncate"] is None else fields["truncate"]
        n = len(texts)
        limit = self.config.max_client_batch_size
        if n > limit:
            raise TEIError("Validation", f"batch size {n} > maximum allowed batch size {limit}")
        direction: str = fields["truncation_direction"]
        raw_scores: bool = fields["raw_scores"]
        self.stats.inputs_started(n)
        try:
            if self.config.is_v19:  # each text's own try_acquire: those without a permit get 429
                permits = ["held" if self.permits.try_acquire(1) else "none" for _ in texts]
            else:  # TEI <= 1.8.3: every text waits for its permit
                permits = ["wait"] * n
            outcomes = await asyncio.gather(
                *(
                    self._rerank_item(query, text, truncate, direction, raw_scores, gate, permit)
                    for text, permit in zip(texts, permits, strict=True)
                )
            )
        finally:
            self.stats.inputs_finished(n)
        return _raise_first_error(outcomes)

    async def _rerank_item(
        self,
        query: str,
        text: str,
        truncate: bool,
        direction: str,
        raw_scores: bool,
        gate: _Gate,
        permit: str,
    ) -> _ItemResult | TEIError:
        """``Infer::predict`` for one pair (``permit``: ``"held"``, ``"wait"`` or ``"none"`` = 429)."""
        assert self.permits is not None and self.batcher is not None
        if permit == "none":
            return overloaded()
        if permit == "wait":
            await self.permits.acquire()
        try:
            await gate.wait()
            start = time.perf_counter()
            if len(query) + len(text) <= _INLINE_TOKENIZATION_CHARS:
                encoded = self.encoder.encode_pair(query, text, truncate, direction)
            else:
                loop = asyncio.get_running_loop()
                encoded = await loop.run_in_executor(
                    self._tokenizer_pool, self.encoder.encode_pair, query, text, truncate, direction
                )
            tokenization = time.perf_counter() - start
            logits, queue, inference = await self.batcher.submit(encoded)
            score = np.float32(logits[0])
            if not raw_scores:  # one label: sigmoid, in f32 (infer.rs L476-479 at v1.9.3)
                with np.errstate(over="ignore"):
                    score = np.float32(1.0) / (np.float32(1.0) + np.exp(-score))
            scores = np.asarray([score], dtype=np.float32)
            return _ItemResult(scores, len(encoded.ids), tokenization, queue, inference)
        except TEIError as exc:
            return exc
        finally:
            self.permits.release()

    # -- tokenize / decode -----------------------------------------------------------------------
    def _check_batch(self, inputs: Inputs, empty_message: str) -> None:
        if inputs.is_batch:
            if not inputs.items:
                raise TEIError("Empty", empty_message)
            limit = self.config.max_client_batch_size
            if len(inputs.items) > limit:
                raise TEIError(
                    "Validation", f"batch size {len(inputs.items)} > maximum allowed batch size {limit}"
                )

    async def _tokenize(self, request: web.Request) -> web.StreamResponse:
        try:
            fields = await self._read_json(request, self._tokenize_spec)
        except FrameworkError as exc:
            return _plain_response(exc)
        inputs: Inputs = fields["inputs"]
        try:
            self._check_batch(inputs, "`inputs` cannot be empty")
            out = []
            for text in inputs.items:
                assert isinstance(text, str)
                out.append(self.encoder.tokenize(text, fields["add_special_tokens"], fields["prompt_name"]))
        except TEIError as exc:
            return self._error(exc, openai=False)
        return _json_response(_dumps(out))

    async def _decode(self, request: web.Request) -> web.StreamResponse:
        try:
            fields = await self._read_json(request, self._decode_spec)
        except FrameworkError as exc:
            return _plain_response(exc)
        inputs: Inputs = fields["ids"]
        try:
            self._check_batch(inputs, "`ids` cannot be empty")
            out = []
            for ids in inputs.items:
                assert isinstance(ids, list)
                out.append(self.encoder.decode(ids, fields["skip_special_tokens"]))
        except TEIError as exc:
            return self._error(exc, openai=False)
        return _json_response(_dumps(out))


# ----------------------------------------------------------------------------------------------
# Serving
# ----------------------------------------------------------------------------------------------


async def serve(
    app: TEIApp,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None],
) -> None:
    """Run ``app`` on ``127.0.0.1:port`` (0 = any free port) until ``stop`` is set.

    Waits ``startup_delay_s`` before listening (TEI listens only after loading the model);
    ``on_listening(port)`` is called once the port accepts connections.
    """
    config = app.config
    await app.start()
    runner: web.AppRunner | None = None
    try:
        if config.startup_delay_s > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=config.startup_delay_s)
                return
            except asyncio.TimeoutError:
                pass
        runner = web.AppRunner(
            app.web_app, access_log=None, handle_signals=False, shutdown_timeout=config.shutdown_timeout_s
        )
        await runner.setup()
        site = web.TCPSite(runner, config.host, port, reuse_address=True)
        await site.start()
        addresses = runner.addresses
        on_listening(int(addresses[0][1]) if addresses else port)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await app.close()


def _raise_first_error(outcomes: list[_ItemResult | TEIError]) -> list[_ItemResult]:
    """The inputs' results in order, or the first input's error (TEI fails the whole request)."""
    results: list[_ItemResult] = []
    for outcome in outcomes:
        if isinstance(outcome, TEIError):
            raise outcome
        results.append(outcome)
    return results
