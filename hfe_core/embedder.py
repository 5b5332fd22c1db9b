"""The facade both adapters call: :class:`Embedder`, with sync and async twins over one pipeline.

Pipeline of every call, whatever the mode::

    validate -> resolve prompt -> plan truncation -> batches -> backend -> merge windows
             -> Matryoshka dimensions -> statistics (and an INFO line when inputs were cut)

Planning, merging and error handling are shared; only the loop that runs the
batches has a sync and an async shell.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar, get_args

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from hfe_core import prompts as _prompts
from hfe_core.backends import Backend, create_backend
from hfe_core.config import EmbedderSettings, InputType, Truncation
from hfe_core.dimensions import check_expected_dimension, output_dimension, truncate_dimensions
from hfe_core.errors import (
    ConfigurationError,
    EmbeddingError,
    HfeError,
    NotFoundError,
    ResponseFormatError,
)
from hfe_core.precision import quantize
from hfe_core.prompts import resolve_prompt
from hfe_core.truncation import TruncationPlan, combine_windows, count_over, plan_truncation
from hfe_core.validation import validate_text, validate_texts

__all__ = ["Embedder", "EmbeddingResult", "EmbeddingStats"]

logger = logging.getLogger("hfe")

T = TypeVar("T")
#: Names of a model's own prompts for each side (sentence-transformers' conventions).
_SAVED_NAMES: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "document": ("document", "passage", "corpus"),
}
MemoryAction = Literal["add", "update", "search"]
_Outcome = tuple[list["npt.NDArray[np.float32] | None"], dict[int, BaseException]]


@dataclass
class EmbeddingStats:
    """What one call did.

    Attributes:
        input_type: ``"query"`` or ``"document"``.
        inputs: number of inputs.
        texts_embedded: texts sent to the model (more than inputs when chunking).
        batches: calls made to the backend.
        truncated: inputs cut to the model's limit.
        truncation_counted: False when ``truncated`` could not be counted (a server without
            ``/tokenize``, or a failed count): the inputs were still truncated by the server.
        chunked: inputs split into windows and averaged.
        seconds: wall time of the call, ``load_seconds`` included.
        load_seconds: part of ``seconds`` spent loading the model (local) or reading the server's
            ``/info`` (server modes) on first use; 0 once that is done.
        requests: HTTP requests sent, retries included (server modes).
        retries: requests that were retries of a transient failure.
        server_ms: time the server reports it spent (TEI's ``x-total-time``), summed.
        tokens: tokens the server computed (TEI's ``x-compute-tokens``), summed.

    The server counters are the backend's during the call: when one embedder serves
    several calls at once, each call's counters include the others'.

    Example:
        >>> embedder = Embedder()
        >>> embedder.embed(["Paris is in France."]).stats.truncated  # doctest: +SKIP
        0
        >>> embedder.last_stats.seconds  # doctest: +SKIP
        0.012
    """

    input_type: InputType
    inputs: int = 0
    texts_embedded: int = 0
    batches: int = 0
    truncated: int = 0
    chunked: int = 0
    truncation_counted: bool = True
    seconds: float = 0.0
    load_seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    server_ms: float = 0.0
    tokens: int = 0

    @property
    def embed_seconds(self) -> float:
        """Wall time spent embedding: :attr:`seconds` less :attr:`load_seconds`."""
        return max(0.0, self.seconds - self.load_seconds)


@dataclass
class EmbeddingResult:
    """Embeddings of one call, as a ``(n, dimension)`` float32 array, with statistics.

    With ``precision`` set to ``int8``/``uint8`` the array holds one-byte codes, ``(n, dimension)``;
    with ``binary``/``ubinary``, packed bits, ``(n, ceil(dimension / 8))`` (see :mod:`hfe_core.precision`).

    Example:
        >>> result = Embedder().embed(["Paris is in France."])  # doctest: +SKIP
        >>> result.embeddings.shape, result.stats.inputs  # doctest: +SKIP
        ((1, 384), 1)
        >>> vectors = result.tolist()  # doctest: +SKIP
    """

    embeddings: npt.NDArray[Any]
    stats: EmbeddingStats

    def tolist(self) -> list[list[float]]:
        """The embeddings as lists of Python floats (what LangChain and LlamaIndex expect)."""
        return self.embeddings.tolist()  # type: ignore[no-any-return]


def _progress(job: _Job) -> tqdm[Any]:
    return tqdm(total=len(job.plan.texts), disable=not job.show_progress, unit="text", desc="Embedding")


@contextmanager
def _keep_failure(errors: dict[int, BaseException], number: int) -> Iterator[None]:
    """Record a failed batch so the others go on; errors about the call itself propagate."""
    try:
        yield
    except HfeError as exc:
        if not isinstance(exc, EmbeddingError) or exc.aborts_call:
            raise
        errors[number] = exc
    except Exception as exc:  # noqa: BLE001 - kept and re-raised with the partial results
        errors[number] = exc


@contextmanager
def _nothing_computed(texts: Sequence[str]) -> Iterator[None]:
    """A server failing before any batch (reading /info, tokenizing) failed every input of the call."""
    try:
        yield
    except EmbeddingError as exc:
        if not exc.failed_indices:
            exc.failed_indices = list(range(len(texts)))
            exc.partial_embeddings = [None] * len(texts)
        raise


def _refuse_other_dimensions(
    job: _Job, parts: list[npt.NDArray[np.float32] | None], errors: dict[int, BaseException]
) -> None:
    """Fail the batches whose vectors have another dimension than the call's first batch.

    A server that changes its model (or a proxy in front of two servers) must not yield a call
    of mixed dimensions; the batches that agree with the first one keep their vectors.
    """
    dimension = next((part.shape[1] for part in parts if part is not None), None)
    for number, part in enumerate(parts):
        if part is not None and part.shape[1] != dimension:
            parts[number] = None
            errors[number] = ResponseFormatError(
                f"batch {number + 1} of {len(job.batches)} ({len(part)} inputs) came back with vectors of "
                f"dimension {part.shape[1]}, but the call's first batch had {dimension}: the server changed "
                "models during the call, or several servers with different models answer at this URL."
            )


def _may_exceed(texts: list[str], budget: int) -> bool:
    """The cheap bound: whether any text could have more than ``budget`` tokens.

    No tokenizer yields more tokens than UTF-8 bytes (at most 4 a character) plus a word-start
    piece; the exact count (and the prompt's tokens) is left to :func:`plan_truncation`.
    """
    return any(len(text) * 4 + 1 > budget for text in texts)


def _count_truncated(
    backend: Backend, texts: list[str], prompt: str, prompt_name: str | None, max_tokens: int
) -> list[int] | None:
    """The inputs the server truncates (exact), or ``None`` when they cannot be counted."""
    try:
        budget = max(1, max_tokens - _overhead(backend, prompt, prompt_name))
        return count_over(texts, budget=budget, counts=backend.token_counts)
    except NotFoundError:
        logger.info("hfe: the server cannot tokenize, so truncated inputs are not counted.")
    except Exception as exc:  # noqa: BLE001 - the vectors do not depend on the count: report, go on
        logger.warning("hfe: truncated inputs could not be counted (%s: %s).", type(exc).__name__, exc)
    return None


def _overhead(backend: Backend, prompt: str, prompt_name: str | None) -> int:
    """The backend's prompt overhead; ``prompt_name`` only when set (older backends take one argument)."""
    return backend.prompt_overhead(prompt, prompt_name) if prompt_name else backend.prompt_overhead(prompt)


def _in_background(work: Callable[[], T]) -> Future[T]:
    """Run ``work`` in a daemon thread (never one that interpreter exit waits for); its future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="hfe-count", daemon=True).start()
    return future


@dataclass
class _Job:
    items: list[str]
    input_type: InputType
    prompt: str
    plan: TruncationPlan
    batch_size: int
    show_progress: bool
    started: float
    #: The server's own prompt to apply (TEI's ``prompt_name``), when the server reported it.
    prompt_name: str | None = None
    load_seconds: float = 0.0
    #: The count of truncated inputs, when it runs beside the embedding (``None``: not counted).
    counting: Future[list[int] | None] | None = None
    counted: bool = True
    counters: dict[str, float] = field(default_factory=dict)
    batches: list[list[int]] = field(default_factory=list)  # rows of plan.texts, per backend call

    def texts_of(self, batch: list[int]) -> list[str]:
        """The texts of one batch."""
        return [self.plan.texts[row] for row in batch]

    @property
    def batch_options(self) -> dict[str, Any]:
        """Keyword arguments of every backend batch call."""
        options: dict[str, Any] = {
            "input_type": self.input_type,
            "prompt": self.prompt,
            "batch_size": self.batch_size,
        }
        if self.prompt_name is not None:  # only for a backend that reported the name
            options["prompt_name"] = self.prompt_name
        return options


class Embedder:
    """Embeds texts in any mode; the object LangChain and LlamaIndex adapters delegate to.

    Args:
        settings: an :class:`~hfe_core.config.EmbedderSettings` (or an adapter, which is one).
        **kwargs: settings as keyword arguments, when ``settings`` is not given.

    Example:
        >>> embedder = Embedder(model="sentence-transformers/all-MiniLM-L6-v2")
        >>> vectors = embedder.embed_documents(["Paris is in France.", "Bern is in Switzerland."])
        >>> query = embedder.embed_query("Where is Paris?")
        >>> embedder.dimension
        384

    Nothing is loaded or connected until the first embedding or ``dimension``.
    Pickling an embedder carries its settings only (never the model, never the token).
    """

    def __init__(self, settings: EmbedderSettings | None = None, /, **kwargs: Any) -> None:
        if settings is not None and kwargs:
            raise ConfigurationError("Pass either a settings object or keyword settings, not both.")
        resolved = settings.snapshot() if settings is not None else EmbedderSettings(**kwargs)
        self._settings = resolved
        self._backend: Backend = create_backend(resolved)
        self._dimension_checked = False
        self.last_stats: EmbeddingStats | None = None

    # -- introspection ------------------------------------------------------------------
    @property
    def settings(self) -> EmbedderSettings:
        """The resolved settings (read-only by convention)."""
        return self._settings

    @property
    def backend(self) -> Backend:
        """The mode backend."""
        return self._backend

    @property
    def dimension(self) -> int:
        """Dimension of the returned embeddings (``dimensions`` when set, else the model's)."""
        dimension = output_dimension(self._backend.dimension, self._settings.dimensions)
        if not self._dimension_checked:
            check_expected_dimension(self._settings.expected_dimension, dimension, model=self._settings.model)
            self._dimension_checked = True
        return dimension

    @property
    def max_input_tokens(self) -> int | None:
        """The model's limit per input in tokens, when known."""
        return self._backend.max_input_tokens

    def prompt(self, input_type: InputType) -> str:
        """The prompt hfe puts before inputs of ``input_type`` ('' for none); see :mod:`hfe_core.prompts`.

        '' too when the server puts the model's own prompt itself (:meth:`prompt_choice` says which).
        """
        return self.prompt_choice(input_type)[0]

    def prompt_choice(self, input_type: InputType, prompt_name: str | None = None) -> tuple[str, str | None]:
        """The prompt of a call: ``(text hfe puts before each input, name of the server's prompt)``.

        The same precedence in every mode: ``query_prompt``/``document_prompt`` > the model's own
        prompts (local: the loaded model's; tei and endpoint: those the server reports, which it then
        applies itself through TEI's ``prompt_name``) > the family table > none. A per-call
        ``prompt_name`` (``"Clustering"``...) is looked up the same way: the server's prompts, the
        model's, then the family's named prompts.

        Raises:
            ConfigurationError: ``prompt_name`` is not a prompt of the model, the server or its family.
        """
        backend = self._backend
        if prompt_name is not None:
            return self._named_prompt(prompt_name)
        explicit = self._settings.query_prompt if input_type == "query" else self._settings.document_prompt
        if explicit is not None:
            return explicit, None
        served = backend.server_prompt_names()
        for name in _SAVED_NAMES[input_type]:
            if name in served:
                return "", name
        return (
            resolve_prompt(
                input_type=input_type,
                explicit=None,
                saved=backend.saved_prompt(input_type),
                model=backend.model_id,
            ),
            None,
        )

    def _named_prompt(self, prompt_name: str) -> tuple[str, str | None]:
        backend = self._backend
        served = backend.server_prompt_names()
        if prompt_name in served:
            return "", prompt_name
        own = backend.model_prompts()
        if prompt_name in own:
            return own[prompt_name], None
        model = backend.model_id
        family = _prompts.family_prompts(model) if model else None
        if family and prompt_name in family:
            return family[prompt_name], None
        known = sorted({*served, *own, *(family or {})})
        raise ConfigurationError(
            f"prompt_name={prompt_name!r} is not a prompt of {model or 'the model'}"
            + (f"; it has: {', '.join(known)}." if known else ", which has no named prompts.")
            + " Pass the prompt's text as query_prompt=/document_prompt= instead."
        )

    def __repr__(self) -> str:
        s = self._settings
        url = s.url
        if url:  # a password in the URL's user info is a credential
            from urllib.parse import urlparse

            from hfe_core.auth import redact

            url = redact(url, [urlparse(url).password])
        return f"Embedder(mode={s.mode!r}, model={s.model!r}, url={url!r}, device={s.device!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Embedder, (self._settings,))

    def close(self) -> None:
        """Release the backend's resources (connections); loaded models stay cached."""
        self._backend.close()

    # -- the pipeline ---------------------------------------------------------------------
    def _prepare(
        self,
        texts: Sequence[str],
        input_type: InputType,
        truncation: Truncation | None,
        batch_size: int | None,
        show_progress: bool | None,
        prompt_name: str | None = None,
    ) -> _Job:
        started = time.perf_counter()
        items = list(texts)  # validated by the caller
        if input_type not in ("query", "document"):
            raise ConfigurationError(f"input_type={input_type!r}: use 'query' or 'document'.")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ConfigurationError(f"batch_size={batch_size!r}: use a positive integer.")
        if truncation is not None and truncation not in get_args(Truncation):
            raise ConfigurationError(
                f"truncation={truncation!r}: use one of {', '.join(get_args(Truncation))}."
            )
        size = batch_size or self._settings.batch_size or 1
        job = _Job(
            items,
            input_type,
            "",
            TruncationPlan([], [], []),
            size,
            bool(self._settings.show_progress if show_progress is None else show_progress),
            started,
        )
        if not items:
            return job
        job.counters = self._backend.counters()
        loading = time.perf_counter()
        if self._backend.warm_up():
            job.load_seconds = time.perf_counter() - loading
        if self._settings.expected_dimension is not None or self._settings.dimensions is not None:
            _ = self.dimension
        job.prompt, job.prompt_name = self.prompt_choice(input_type, prompt_name)
        backend = self._backend
        policy = truncation or self._settings.truncation or "truncate"
        max_tokens = backend.max_input_tokens
        if not max_tokens and policy != "truncate":
            backend.require_input_limit(policy)  # a per-call policy (warm_up checked the embedder's own)
        # Under "truncate", long texts are cut client-side for a backend that would keep their end or
        # refuse them whole (TEI 1.8's OpenAI route). Otherwise under "truncate" (and "truncate_left"
        # where the server keeps the end itself) every text is sent as it is: counting the ones the
        # server cuts does not change what is sent, so the count (client-side tokenizer or the server's
        # /tokenize) runs beside the embedding, never before it.
        cut = policy == "truncate" and (backend.truncates_left or not backend.truncates_itself)
        count_only = (policy == "truncate" and not cut) or (
            policy == "truncate_left" and backend.truncates_left and not job.prompt and not job.prompt_name
        )
        if count_only and max_tokens and _may_exceed(items, max_tokens // 2) and backend.counts_in_background:
            job.plan = TruncationPlan(list(items), list(range(len(items))), [0] * len(items))
            job.counting = _in_background(
                partial(_count_truncated, backend, items, job.prompt, job.prompt_name, max_tokens)
            )
        elif not max_tokens or not _may_exceed(items, max_tokens // 2):
            # The cheap bound, with room for any prompt of up to half the limit: nothing to tokenize.
            job.plan = TruncationPlan(list(items), list(range(len(items))), [0] * len(items))
        else:
            try:
                job.plan = plan_truncation(
                    items,
                    policy="truncate" if count_only else policy,
                    max_tokens=max_tokens,
                    overhead=_overhead(backend, job.prompt, job.prompt_name) if max_tokens else 0,
                    spans=backend.token_spans,
                    cut=cut,
                )
            except NotFoundError:
                if not count_only:
                    raise
                # The backend truncates by itself; only the count of truncated inputs is lost.
                logger.info("hfe: the server cannot tokenize, so truncated inputs are not counted.")
                job.plan = TruncationPlan(list(items), list(range(len(items))), [0] * len(items))
                job.counted = False
        texts = job.plan.texts
        rows = list(range(len(texts)))
        if backend.sort_by_length:
            # Longest first over the whole call, as sentence-transformers does inside one encode():
            # batches of similar lengths waste no compute on padding. Results go back in input order.
            rows.sort(key=lambda row: -len(texts[row]))
        job.batches = backend.plan_batches(texts, rows, size)
        return job

    def _finish(self, job: _Job, outcome: _Outcome) -> EmbeddingResult:
        parts, errors = outcome
        _refuse_other_dimensions(job, parts, errors)
        if job.counting is not None:
            truncated = job.counting.result()  # the async path has awaited it already
            job.plan.truncated = truncated or []
            job.counted = truncated is not None
        stats = EmbeddingStats(
            input_type=job.input_type,
            inputs=len(job.items),
            texts_embedded=len(job.plan.texts),
            batches=len(job.batches),
            truncated=len(job.plan.truncated),
            chunked=len(job.plan.chunked),
            truncation_counted=job.counted,
        )
        failed = [number for number, part in enumerate(parts) if part is None]
        if failed:
            self._raise_partial(job, parts, [errors[number] for number in failed])
        done = [part for part in parts if part is not None]
        vectors = np.empty((len(job.plan.texts), done[0].shape[1] if done else 0), dtype=np.float32)
        for batch, part in zip(job.batches, done, strict=True):
            vectors[batch] = part
        vectors = combine_windows(vectors, job.plan, len(job.items), normalize=self._settings.normalize)
        vectors = truncate_dimensions(vectors, self._settings.dimensions, normalize=self._settings.normalize)
        codes = self._quantize(vectors)
        stats.seconds = time.perf_counter() - job.started
        stats.load_seconds = job.load_seconds
        for name, value in self._backend.counters().items():
            setattr(stats, name, type(getattr(stats, name))(value - job.counters.get(name, 0)))
        self.last_stats = stats
        if stats.truncated or stats.chunked:
            what = "truncated" if stats.truncated else "chunked and averaged"
            logger.info(
                "hfe: %d of %d inputs were longer than %s tokens and were %s (truncation policy).",
                stats.truncated or stats.chunked,
                stats.inputs,
                self._backend.max_input_tokens,
                what,
            )
        logger.debug("hfe: %s", stats)
        return EmbeddingResult(codes, stats)

    def _quantize(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """The finished float vectors at the output ``precision`` (float32 unchanged)."""
        if self._settings.precision == "float32":
            return vectors
        return quantize(vectors, self._settings.precision, ranges=self._settings.precision_ranges)

    def _raise_partial(
        self, job: _Job, parts: list[npt.NDArray[np.float32] | None], errors: list[BaseException]
    ) -> None:
        done_rows: dict[int, npt.NDArray[np.float32]] = {}
        for batch, part in zip(job.batches, parts, strict=True):
            if part is not None:
                done_rows.update(zip(batch, part, strict=True))
        windows: dict[int, list[int]] = {}
        for row, owner in enumerate(job.plan.owners):
            windows.setdefault(owner, []).append(row)
        partial: list[list[float] | None] = []
        failed_inputs: list[int] = []
        for index in range(len(job.items)):
            rows = windows[index]
            if all(row in done_rows for row in rows):
                stacked = np.stack([done_rows[row] for row in rows])
                sub = TruncationPlan(
                    [""] * len(rows),
                    [0] * len(rows),
                    [job.plan.weights[r] for r in rows],
                    chunked=[0] if len(rows) > 1 else [],
                )
                vector = combine_windows(stacked, sub, 1, normalize=self._settings.normalize)
                vector = truncate_dimensions(
                    vector, self._settings.dimensions, normalize=self._settings.normalize
                )
                partial.append(self._quantize(vector)[0].tolist())
            else:
                partial.append(None)
                failed_inputs.append(index)
        first = errors[0]
        summary = (
            f"{len(failed_inputs)} of {len(job.items)} inputs could not be embedded "
            f"({len(errors)} of {len(job.batches)} batches failed; first error: "
            f"{type(first).__name__}: {first}). The embeddings of the other inputs are kept in "
            ".partial_embeddings; retry the inputs in .failed_indices."
        )
        if isinstance(first, EmbeddingError):
            # Keep the server error's own type (RateLimitedError, ServerError...), with everything computed.
            first.failed_indices = failed_inputs
            first.partial_embeddings = partial
            first.args = (f"{first.args[0] if first.args else first} | {summary}",)
            raise first
        raise EmbeddingError(summary, failed_indices=failed_inputs, partial_embeddings=partial) from first

    def _run_sync(self, job: _Job) -> _Outcome:
        errors: dict[int, BaseException] = {}
        parts: list[npt.NDArray[np.float32] | None] = [None] * len(job.batches)

        def run(number: int, batch: list[int]) -> None:
            with _keep_failure(errors, number):
                parts[number] = self._backend.embed_batch(job.texts_of(batch), **job.batch_options)
            bar.update(len(batch))

        with _progress(job) as bar:
            workers = min(self._backend.max_concurrency, len(job.batches))
            if workers <= 1:
                for number, batch in enumerate(job.batches):
                    run(number, batch)
            else:
                # Threads only wait on the network; the backend bounds what is in flight.
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfe") as pool:
                    futures = [pool.submit(run, number, batch) for number, batch in enumerate(job.batches)]
                    try:
                        for future in futures:
                            future.result()
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        return parts, errors

    async def _run_async(self, job: _Job) -> _Outcome:
        errors: dict[int, BaseException] = {}
        parts: list[npt.NDArray[np.float32] | None] = [None] * len(job.batches)
        limit = asyncio.Semaphore(max(1, self._backend.max_concurrency))
        bar = _progress(job)

        async def run(number: int, batch: list[int]) -> None:
            async with limit:
                with _keep_failure(errors, number):
                    parts[number] = await self._backend.aembed_batch(job.texts_of(batch), **job.batch_options)
                bar.update(len(batch))

        try:
            await asyncio.gather(*(run(number, batch) for number, batch in enumerate(job.batches)))
        finally:
            bar.close()
        return parts, errors

    # -- public API -----------------------------------------------------------------------
    def embed(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        truncation: Truncation | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        prompt_name: str | None = None,
    ) -> EmbeddingResult:
        """Embed ``texts`` and return the array with the call's statistics.

        Args:
            texts: the inputs, a list of strings.
            input_type: ``"document"`` (default) or ``"query"``; selects the prompt.
            truncation: per-call override of the truncation policy.
            batch_size: per-call override of the batch size.
            show_progress: per-call override of the progress bar.
            prompt_name: a named prompt of the model for this call (``"Clustering"``,
                ``"Classification"``...), instead of the query or document prompt: the server's own
                (tei, endpoint), the loaded model's (local), or its family's. LangChain and LlamaIndex
                users reach it through the adapter's ``embedder``:
                ``HFEmbeddings(...).embedder.embed(texts, prompt_name="Clustering").tolist()``.

        Returns:
            An :class:`EmbeddingResult` with a ``(len(texts), dimension)`` array.

        Raises:
            InputTypeError: ``texts`` is not a list of strings.
            InputTooLongError: ``truncation="error"`` and inputs are too long.
            EmbeddingError: some batches failed; the others' embeddings are attached.

        Example:
            >>> embedder = Embedder()
            >>> result = embedder.embed(["Paris is in France.", "Tea is green."])  # doctest: +SKIP
            >>> result.embeddings.shape  # doctest: +SKIP
            (2, 384)
        """
        items = validate_texts(texts)  # read once: a generator is consumed here, and only here
        with _nothing_computed(items):
            job = self._prepare(items, input_type, truncation, batch_size, show_progress, prompt_name)
        return self._finish(job, self._run_sync(job) if job.items else ([], {}))

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        truncation: Truncation | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        prompt_name: str | None = None,
    ) -> EmbeddingResult:
        """Async twin of :meth:`embed`; never blocks the event loop (local models run in a thread).

        Takes the same arguments and raises the same errors as :meth:`embed`.

        Example:
            >>> result = await Embedder().aembed(["Paris is in France."])  # doctest: +SKIP
            >>> result.embeddings.shape  # doctest: +SKIP
            (1, 384)
        """
        items = validate_texts(texts)  # read once: a generator is consumed here, and only here
        with _nothing_computed(items):
            job = await asyncio.to_thread(
                self._prepare, items, input_type, truncation, batch_size, show_progress, prompt_name
            )
        outcome = await self._run_async(job) if job.items else ([], {})
        if job.counting is not None:
            await asyncio.wrap_future(job.counting)
        return self._finish(job, outcome)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed documents (document prompt) and return lists of floats.

        Example:
            >>> vectors = Embedder().embed_documents(["Paris is in France."])  # doctest: +SKIP
            >>> len(vectors), len(vectors[0])  # doctest: +SKIP
            (1, 384)
        """
        return self.embed(texts, input_type="document").tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (query prompt) and return a list of floats.

        Example:
            >>> len(Embedder().embed_query("Where is Paris?"))  # doctest: +SKIP
            384
        """
        return self.embed([validate_text(text)], input_type="query").tolist()[0]

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        return (await self.aembed(texts, input_type="document")).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        return (await self.aembed([validate_text(text)], input_type="query")).tolist()[0]

    def embed_memory(self, text: str, memory_action: MemoryAction | None = None) -> list[float]:
        """Embed one text the way mem0 asks: ``"search"`` as a query, ``"add"``/``"update"`` as a document.

        Args:
            text: the memory or the search query.
            memory_action: mem0's ``memory_action``; ``None`` means a document.

        Returns:
            The embedding.

        Raises:
            ConfigurationError: ``memory_action`` is not ``"add"``, ``"update"``, ``"search"`` or ``None``.

        Example:
            >>> embedder = Embedder()
            >>> vector = embedder.embed_memory("I like green tea", memory_action="add")  # doctest: +SKIP
            >>> query = embedder.embed_memory("What do I drink?", memory_action="search")  # doctest: +SKIP
        """
        if memory_action not in (None, "add", "update", "search"):
            raise ConfigurationError(f"memory_action={memory_action!r}: use 'add', 'update' or 'search'.")
        if memory_action == "search":
            return self.embed_query(text)
        return self.embed([validate_text(text)], input_type="document").tolist()[0]
