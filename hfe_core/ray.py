"""Ray: embed a Ray Data column, or a batch job's chunks, with one embedder per Ray actor.

Three ways in, one worker class:

* :func:`embed_dataset` adds an embedding column to a :class:`ray.data.Dataset` with
  ``map_batches`` over a fixed pool of :class:`HFEmbedActor` actors;
* :class:`RayEngine` is the :class:`~hfe_core.engines.Engine` of a batch job
  (``hfe embed --engine ray``): it starts or joins Ray, holds ``workers`` actors and spreads
  each chunk over them, returning the vectors in order;
* :class:`HFEmbedActor` itself, for your own ``map_batches`` calls.

Each actor holds one :class:`~hfe_core.embedder.Embedder`. In local mode that is one model per
actor: one per GPU (``num_gpus=1``) when the cluster has GPUs, else one per CPU worker. In tei and
endpoint modes it is one pooled HTTP client per actor, and the server's concurrency is shared out:
with ``W`` workers each keeps at most ``ceil(max_concurrency / W)`` requests in flight and, on a
TEI server, at most ``max_concurrent_requests // W`` inputs in flight
(:meth:`~hfe_core.backends.base.Backend.share_server`).

Settings are resolved once, in the driver (its arguments, ``HFE_*`` environment and defaults), and
sent to the workers as they are, except the token: tokens never travel to the workers. Settings
are pickled without their token, and each worker resolves its own from its environment
(``HF_TOKEN`` and friends, ``TEI_API_KEY`` in tei mode) or its stored login. A token passed as an
argument stays in the driver, with a warning. See ``docs/ray.md`` for running on a cluster.

Ray is imported when first needed; without it these functions raise
:class:`~hfe_core.errors.BackendUnavailableError` (``pip install 'hfe[ray]'``).

Example:
    >>> import ray
    >>> from hfe_core.ray import embed_dataset
    >>> ds = ray.data.from_items([{"id": 1, "text": "Paris is in France."}])
    >>> embed_dataset(ds, model="sentence-transformers/all-MiniLM-L6-v2").take(1)[0]["embedding"].shape
    (384,)
"""

from __future__ import annotations

import logging
import math
import os
import traceback
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hfe_core.config import EmbedderSettings, InputType
from hfe_core.embedder import Embedder
from hfe_core.engines import ChunkCounters
from hfe_core.errors import (
    BackendUnavailableError,
    ConfigurationError,
    EmbeddingError,
    HfeError,
    InputTooLongError,
    InvalidInputError,
)

if TYPE_CHECKING:
    import ray.data

__all__ = ["HFEmbedActor", "RayEngine", "embed_dataset"]

logger = logging.getLogger("hfe")

#: Rows of a Ray Data batch handed to one actor call, unless ``batch_size`` is given.
DEFAULT_DATASET_BATCH_SIZE = 1024
#: Most texts of a chunk one :class:`RayEngine` call sends to one actor.
DEFAULT_ROWS_PER_CALL = 1024
#: Workers of a tei or endpoint job when not given: enough clients to keep a server busy.
DEFAULT_SERVER_WORKERS = 4
#: Seconds a RayEngine waits for its actors to start (a cluster without room for them never would).
DEFAULT_START_TIMEOUT = 600.0
#: Calls queued on each actor at once, so that an actor never waits for the driver between calls.
_CALLS_PER_ACTOR = 2
#: Restarts of a crashed actor (a lost node, an OOM kill) before its calls fail; embedding is idempotent.
_ACTOR_RESTARTS = 3

SettingsLike = EmbedderSettings | Mapping[str, Any]


def _import_ray() -> Any:
    """The ``ray`` module, or a :class:`BackendUnavailableError` that names the extra."""
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            "hfe_core.ray needs Ray Data: pip install 'hfe[ray]' (and hfe[local] on every node for "
            "local mode)."
        ) from exc
    return ray


def _resolve(settings: SettingsLike | None, overrides: Mapping[str, Any]) -> EmbedderSettings:
    """Settings from an object, a mapping or keyword arguments (resolved in this process)."""
    if settings is not None and overrides:
        raise ConfigurationError("Pass either settings= or keyword settings, not both.")
    if isinstance(settings, EmbedderSettings):
        return settings.snapshot()
    return EmbedderSettings(**{**(settings or {}), **overrides})


def _warn_if_explicit_token(settings: EmbedderSettings) -> None:
    if settings.token_source == "argument":  # noqa: S105 - a source's name, not a secret
        variables = "TEI_API_KEY or HF_TOKEN" if settings.mode == "tei" else "HF_TOKEN"
        logger.warning(
            "hfe: the token passed as an argument is not sent to Ray workers. Each worker reads its own "
            "token from its environment (%s) or its stored login: set it on every node.",
            variables,
        )


def _for_workers(settings: EmbedderSettings, num_gpus: float) -> EmbedderSettings:
    """The settings the actors get: a local model on a CPU worker stays on the CPU it was given."""
    if settings.mode == "local" and not num_gpus and settings.device is None:
        return settings.model_copy(update={"device": "cpu"})
    return settings


def _plan_workers(
    settings: EmbedderSettings,
    resources: Mapping[str, float],
    *,
    workers: int | None,
    num_gpus: float | None,
    num_cpus: float | None,
    spare_cpus: int,
) -> tuple[int, float, float]:
    """Workers and the resources of each: ``(workers, num_gpus, num_cpus)``.

    Local mode: one model per GPU when the cluster has GPUs (and the device allows CUDA), else
    one per CPU. Server modes: a few pooled clients, no GPU.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigurationError(f"workers={workers!r}: use a positive integer.")
    cluster_gpus = float(resources.get("GPU", 0.0))
    cpus = 1.0 if num_cpus is None else float(num_cpus)
    free_cpus = max(0.0, float(resources.get("CPU", 1.0)) - spare_cpus)
    by_cpus = int(free_cpus // cpus) if cpus > 0 else None  # None: CPUs do not bound the count
    if settings.mode == "local":
        if num_gpus is None:
            cuda_allowed = settings.device is None or settings.device.startswith("cuda")
            num_gpus = 1.0 if cuda_allowed and cluster_gpus >= 1 else 0.0
        gpus = float(num_gpus)
        if workers is None:
            workers = int(cluster_gpus // gpus) if gpus > 0 else (by_cpus or 1)
    else:
        gpus = float(num_gpus or 0.0)
        if workers is None:
            workers = DEFAULT_SERVER_WORKERS if by_cpus is None else min(DEFAULT_SERVER_WORKERS, by_cpus)
    return max(1, workers), gpus, cpus


#: CPUs a Ray Data pipeline keeps free of embedding actors, for its own tasks (reads, maps, writes).
DATASET_TASK_CPUS = 1.0


def _dataset_workers(workers: int, cpus: float, free_cpus: float, *, cpus_given: bool) -> tuple[int, float]:
    """Workers and CPUs per actor that leave Ray Data's own tasks a CPU: ``(workers, num_cpus)``.

    Ray Data runs the actor pool beside the tasks that read and transform the blocks. Actors that
    hold every free CPU leave those tasks none: the dataset never produces a row, and nothing says
    why. So the pool is capped at the actors that fit in the free CPUs less
    :data:`DATASET_TASK_CPUS`; when not even one fits, one actor asks for what is left (``0`` at
    worst: a Ray CPU is a scheduling unit, not a core, and the actor still runs). A WARNING says
    what was changed.

    Args:
        workers: the planned pool size.
        cpus: CPUs per actor.
        free_cpus: the cluster's CPUs that nothing holds now.
        cpus_given: the caller chose ``cpus`` (``num_cpus=``).
    """
    room = free_cpus - DATASET_TASK_CPUS
    if cpus <= 0 or workers * cpus <= room:
        return workers, cpus
    fit = int(room // cpus) if room > 0 else 0
    if fit >= 1:
        logger.warning(
            "hfe: embed_dataset: %d actors of %g CPU each would leave Ray Data's own tasks (reading and "
            "transforming the blocks) less than %g of the cluster's %g free CPUs, and the dataset would "
            "hang. Using %d actor%s; pass num_cpus= below %g to fit more, or add CPUs.",
            workers,
            cpus,
            DATASET_TASK_CPUS,
            free_cpus,
            fit,
            "" if fit == 1 else "s",
            cpus,
        )
        return fit, cpus
    share = round(max(room, 0.0), 3)
    logger.warning(
        "hfe: embed_dataset: the cluster has %g free CPUs and Ray Data's own tasks need %g of them, or the "
        "dataset hangs: no actor of %g CPU (%s) fits beside them. Using 1 actor of %g CPU; add CPUs to "
        "run more.",
        free_cpus,
        DATASET_TASK_CPUS,
        cpus,
        "num_cpus=" if cpus_given else "the default num_cpus",
        share,
    )
    return 1, share


class HFEmbedActor:
    """A Ray actor (or Ray Data callable class) that holds one embedder.

    Use it with ``Dataset.map_batches`` (see :func:`embed_dataset`, which does this for you)::

        ds.map_batches(
            HFEmbedActor,
            fn_constructor_kwargs=HFEmbedActor.constructor_kwargs(settings, workers=4),
            compute=ray.data.ActorPoolStrategy(size=4),
            batch_size=1024,
            batch_format="numpy",
        )

    Args:
        settings: the embedder's settings: an :class:`~hfe_core.config.EmbedderSettings` (pickled
            without its token) or a mapping of :class:`~hfe_core.embedder.Embedder` keyword
            arguments, resolved in the worker's environment. A mapping must not carry a token.
        text_column: the column with the texts.
        output_column: the column the vectors go to (a 2-D float32 array, one row per text).
        input_type: ``"document"`` (default) or ``"query"``: which prompt applies.
        workers: how many actors share the server in tei and endpoint modes; this one keeps to
            its share of the server's concurrency.

    Raises:
        ConfigurationError: the settings mapping carries a token, or ``workers`` is not positive.

    Example:
        >>> import ray  # doctest: +SKIP
        >>> ds = ray.data.from_items([{"text": "Paris is in France."}])  # doctest: +SKIP
        >>> ds = ds.map_batches(  # doctest: +SKIP
        ...     HFEmbedActor,
        ...     fn_constructor_kwargs=HFEmbedActor.constructor_kwargs({"batch_size": 64}, workers=2),
        ...     compute=ray.data.ActorPoolStrategy(size=2),
        ...     batch_format="numpy",
        ... )
        >>> ds.take(1)[0]["embedding"].shape  # doctest: +SKIP
        (384,)
    """

    def __init__(
        self,
        settings: SettingsLike,
        *,
        text_column: str = "text",
        output_column: str = "embedding",
        input_type: InputType = "document",
        workers: int = 1,
    ) -> None:
        if isinstance(settings, EmbedderSettings):
            resolved = settings
        else:
            if settings.get("token") is not None or settings.get("api_key") is not None:
                raise ConfigurationError(
                    "A token was put in the settings sent to a Ray worker. Tokens must not travel with "
                    "Ray task arguments: set HF_TOKEN (or TEI_API_KEY for a TEI server) in every "
                    "worker's environment instead, or use HFEmbedActor.constructor_kwargs()."
                )
            resolved = EmbedderSettings(**settings)
        self.embedder = Embedder(resolved)
        self.embedder.backend.share_server(workers)
        self.text_column = text_column
        self.output_column = output_column
        self.input_type: InputType = input_type

    @staticmethod
    def constructor_kwargs(
        settings: SettingsLike,
        *,
        text_column: str = "text",
        output_column: str = "embedding",
        input_type: InputType = "document",
        workers: int = 1,
    ) -> dict[str, Any]:
        """The ``fn_constructor_kwargs`` of this class: safe to ship, the token stays here.

        The settings are resolved in this process (its environment and defaults) and travel as an
        :class:`~hfe_core.config.EmbedderSettings`, which pickles without its token. A token given
        as an argument is not sent: a warning says so, and each worker reads its own.

        Args:
            settings: the embedder's settings (object or keyword mapping).
            text_column: the column with the texts.
            output_column: the column the vectors go to.
            input_type: ``"document"`` or ``"query"``.
            workers: how many actors share the server.

        Returns:
            The keyword arguments of :class:`HFEmbedActor`.
        """
        resolved = _resolve(settings, {})
        _warn_if_explicit_token(resolved)
        return {
            "settings": resolved,
            "text_column": text_column,
            "output_column": output_column,
            "input_type": input_type,
            "workers": workers,
        }

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Embed one Ray Data batch (numpy format); the other columns are kept as they are.

        Raises:
            ConfigurationError: the batch has no ``text_column``.
            InputTypeError: a row's text is not a string (``None`` included).
            EmbeddingError: some texts could not be embedded.
        """
        if self.text_column not in batch:
            raise ConfigurationError(
                f"The dataset has no column {self.text_column!r} (columns: {', '.join(batch)}); "
                "pass text_column=."
            )
        vectors, _ = self.embed_texts(batch[self.text_column].tolist(), self.input_type)
        return {**batch, self.output_column: vectors}

    def embed_texts(
        self, texts: Sequence[str], input_type: InputType = "document"
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        """Embed ``texts`` and return a ``(len(texts), dimension)`` float32 array and the counters.

        Raises:
            EmbeddingError: some texts could not be embedded (``failed_indices`` index ``texts``).
        """
        if not texts:
            return np.empty((0, self.embedder.dimension), dtype=np.float32), ChunkCounters()
        result = self.embedder.embed(list(texts), input_type=input_type, show_progress=False)
        return result.embeddings, ChunkCounters.from_stats(result.stats)

    def worker_info(self) -> dict[str, Any]:
        """What this worker runs with: mode, device, its share of the server, where its token came from."""
        settings, backend = self.embedder.settings, self.embedder.backend
        return {
            "pid": os.getpid(),
            "mode": settings.mode,
            "device": settings.device,
            "server_clients": backend.server_clients,
            "max_concurrency": backend.max_concurrency,
            "token_source": settings.token_source,
        }

    def embed_part(self, texts: Sequence[str], input_type: InputType = "document") -> _PartOutcome:
        """:meth:`embed_texts` for :class:`RayEngine`: an hfe error comes back as data, not raised.

        Some hfe errors cannot be rebuilt by pickle from their arguments (Ray would hand the driver
        an ``UnserializableException``); sent as class, arguments and attributes, the driver
        raises the very error the worker raised.
        """
        try:
            vectors, counters = self.embed_texts(texts, input_type)
        except HfeError as exc:
            return _PartOutcome(error=_WorkerError.of(exc))
        return _PartOutcome(vectors=vectors, counters=counters)

    def close(self) -> None:
        """Release the embedder's connections."""
        self.embedder.close()


class _RemoteTraceback(Exception):
    """The traceback of an error raised on a Ray worker (the ``__cause__`` of the error raised here)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class _WorkerError:
    """An hfe error raised on a worker: its class, arguments, attributes and traceback."""

    kind: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    traceback: str

    @classmethod
    def of(cls, exc: BaseException) -> _WorkerError:
        """Record ``exc``."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type(exc), tuple(exc.args), dict(vars(exc)), text)

    def restore(self) -> BaseException:
        """The same error, rebuilt without calling its constructor."""
        exc = self.kind.__new__(self.kind)
        exc.args = self.args
        vars(exc).update(self.state)
        exc.__cause__ = _RemoteTraceback(f"raised on a Ray worker:\n{self.traceback}")
        return exc


@dataclass
class _PartOutcome:
    """What one :meth:`HFEmbedActor.embed_part` call gives back."""

    vectors: npt.NDArray[np.float32] | None = None
    counters: ChunkCounters | None = None
    error: _WorkerError | None = None


def _ensure_ray(address: str | None = None) -> tuple[Any, bool]:
    """The ``ray`` module, connected; ``True`` when this call started or joined Ray."""
    ray = _import_ray()
    if ray.is_initialized():
        if address is not None:
            logger.info("hfe: this process is already connected to Ray; address=%r is not used.", address)
        return ray, False
    ray.init(address=address, ignore_reinit_error=True)
    return ray, True


def embed_dataset(
    ds: ray.data.Dataset,
    *,
    text_column: str = "text",
    output_column: str = "embedding",
    input_type: InputType = "document",
    workers: int | None = None,
    batch_size: int | None = None,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    preserve_order: bool = True,
    settings: SettingsLike | None = None,
    **kwargs: Any,
) -> ray.data.Dataset:
    """Add an embedding column to a Ray dataset, with one embedder per actor.

    The dataset is transformed lazily (nothing runs until it is consumed or written). The actors
    form a fixed pool of ``workers``; each embeds ``batch_size`` rows per call.

    Args:
        ds: the dataset; ``text_column`` holds strings.
        text_column: the column with the texts.
        output_column: the column added, one float32 vector per row (a tensor column).
        input_type: ``"document"`` (default) or ``"query"``.
        workers: actors in the pool. Default: local mode, the cluster's GPUs (one model per GPU)
            or its CPUs less one (left to Ray Data's own tasks); tei and endpoint modes,
            ``min(4, CPUs - 1)`` clients, which share the server's concurrency. Given or not, the
            pool is capped so that one of the cluster's free CPUs stays with Ray Data's own tasks
            (actors holding every CPU would hang the dataset), with a WARNING saying so.
        batch_size: rows per actor call (default 1024); the embedder still batches by its own
            ``batch_size`` inside a call.
        num_gpus: GPUs per actor. Default: 1 in local mode when the cluster has GPUs, else 0.
        num_cpus: CPUs per actor (default 1).
        preserve_order: keep the rows in the input order (sets ``preserve_order`` in the
            execution options of this dataset's context, which Ray shares with the datasets
            derived from the same source).
        settings: the embedder's settings (an :class:`~hfe_core.config.EmbedderSettings` or a
            mapping); or pass them as keyword arguments.
        **kwargs: embedder settings, as for :class:`~hfe_core.embedder.Embedder`.

    Returns:
        The dataset with ``output_column`` added and every other column kept.

    Raises:
        BackendUnavailableError: Ray is not installed.
        ConfigurationError: invalid settings or worker counts.

    Example:
        >>> import ray  # doctest: +SKIP
        >>> ds = ray.data.read_json("corpus.jsonl")  # doctest: +SKIP
        >>> ds = embed_dataset(ds, workers=4, model="BAAI/bge-small-en-v1.5")  # doctest: +SKIP
        >>> ds.write_parquet("out/")  # doctest: +SKIP
    """
    ray, _ = _ensure_ray()
    resolved = _resolve(settings, kwargs)
    count, gpus, cpus = _plan_workers(
        resolved,
        ray.cluster_resources(),
        workers=workers,
        num_gpus=num_gpus,
        num_cpus=num_cpus,
        spare_cpus=1,
    )
    # Ray omits a resource that is all taken: no "CPU" in available_resources() means none is free.
    free_cpus = float(ray.available_resources().get("CPU", 0.0))
    count, cpus = _dataset_workers(count, cpus, free_cpus, cpus_given=num_cpus is not None)
    constructor = HFEmbedActor.constructor_kwargs(
        _for_workers(resolved, gpus),
        text_column=text_column,
        output_column=output_column,
        input_type=input_type,
        workers=count,
    )
    if preserve_order:
        ds.context.execution_options.preserve_order = True
    return ds.map_batches(
        HFEmbedActor,
        fn_constructor_kwargs=constructor,
        compute=ray.data.ActorPoolStrategy(size=count),
        batch_size=batch_size or DEFAULT_DATASET_BATCH_SIZE,
        batch_format="numpy",
        num_gpus=gpus,
        num_cpus=cpus,
        udf_modifying_row_count=False,
    )


class RayEngine:
    """A batch job's engine that spreads each chunk over Ray actors holding one embedder each.

    It joins the Ray cluster at ``address`` (``"auto"``, ``"ray://head:10001"``), or the one
    this process is already connected to, or starts a local Ray instance; :meth:`close` shuts
    down only a Ray that it started or joined itself.

    Args:
        settings: the job's settings; or pass them as keyword arguments.
        workers: actors. Default: local mode, the cluster's GPUs (one model per GPU) or CPUs;
            tei and endpoint modes, ``min(4, CPUs)`` clients sharing the server's concurrency.
        address: the Ray cluster to join (``ray.init(address=...)``); default: a local instance,
            or the ``RAY_ADDRESS`` environment variable.
        num_gpus: GPUs per actor. Default: 1 in local mode when the cluster has GPUs, else 0.
        num_cpus: CPUs per actor (default 1).
        rows_per_call: most texts one actor call embeds (default 1024); a chunk is cut into at
            least two calls per actor, so that faster actors take more.
        start_timeout: seconds to wait for every actor to be placed and started (default 600;
            ``None``: no limit, e.g. while an autoscaler adds nodes).
        **kwargs: embedder settings, when ``settings`` is not given.

    Attributes:
        workers: the number of actors.
        worker_info: what each actor reported when it started (:meth:`HFEmbedActor.worker_info`).

    Raises:
        BackendUnavailableError: Ray is not installed.
        ConfigurationError: invalid settings, or the actors did not start within ``start_timeout``.

    Example:
        >>> from hfe_core import EmbedderSettings
        >>> with RayEngine(EmbedderSettings(model="sentence-transformers/all-MiniLM-L6-v2")) as engine:
        ...     vectors, counters = engine.embed_chunk(["a", "b"], input_type="document")
        >>> vectors.shape
        (2, 384)
    """

    #: Chunks a batch job keeps in flight: the actors embed the next chunk while one is committed.
    pipeline_depth: int = 2

    def __init__(
        self,
        settings: SettingsLike | None = None,
        *,
        workers: int | None = None,
        address: str | None = None,
        num_gpus: float | None = None,
        num_cpus: float | None = None,
        rows_per_call: int | None = None,
        start_timeout: float | None = DEFAULT_START_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        if rows_per_call is not None and (
            isinstance(rows_per_call, bool) or not isinstance(rows_per_call, int) or rows_per_call < 1
        ):
            raise ConfigurationError(f"rows_per_call={rows_per_call!r}: use a positive integer.")
        self._settings = _resolve(settings, kwargs)
        self._rows_per_call = rows_per_call or DEFAULT_ROWS_PER_CALL
        self._embedder: Embedder | None = None
        self._actors: list[Any] = []
        self._ray, self._owns_ray = _ensure_ray(address)
        try:
            count, gpus, cpus = _plan_workers(
                self._settings,
                self._ray.cluster_resources(),
                workers=workers,
                num_gpus=num_gpus,
                num_cpus=num_cpus,
                spare_cpus=0,
            )
            self.workers = count
            constructor = HFEmbedActor.constructor_kwargs(_for_workers(self._settings, gpus), workers=count)
            actor_class = self._ray.remote(
                num_cpus=cpus, num_gpus=gpus, max_restarts=_ACTOR_RESTARTS, max_task_retries=_ACTOR_RESTARTS
            )(HFEmbedActor)
            self._actors = [actor_class.remote(**constructor) for _ in range(count)]
            self.worker_info = self._wait_for_actors(start_timeout, cpus, gpus)
        except BaseException:
            self.close()
            raise

    def _wait_for_actors(self, timeout: float | None, cpus: float, gpus: float) -> list[dict[str, Any]]:
        """Wait until every actor runs; a cluster without room for them raises instead of hanging."""
        refs = [actor.worker_info.remote() for actor in self._actors]
        _, waiting = self._ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if waiting:
            raise ConfigurationError(
                f"{len(waiting)} of {len(refs)} Ray actors ({cpus:g} CPU and {gpus:g} GPU each) did not "
                f"start within {timeout} s. The cluster has {self._ray.cluster_resources()}, of which "
                f"{self._ray.available_resources()} are free: lower workers=, num_cpus= or num_gpus=, free "
                "the resources other actors hold, or add nodes."
            )
        try:
            info: list[dict[str, Any]] = self._ray.get(refs)
        except Exception as exc:
            cause = _cause(exc)
            if isinstance(cause, HfeError):
                raise cause from exc
            raise
        return info

    @property
    def embedder(self) -> Embedder:
        """An embedder with the job's settings in this process (created on first use).

        The job reads the dimension, model id and prompts from it; in local mode reading the
        dimension loads the model in this process too.
        """
        if self._embedder is None:
            self._embedder = Embedder(self._settings)
        return self._embedder

    def embed_chunk(
        self, texts: Sequence[str], *, input_type: InputType
    ) -> tuple[npt.NDArray[np.float32], ChunkCounters]:
        """Embed one chunk on the actors and return its vectors in order, with summed counters.

        Raises:
            EmbeddingError: some texts could not be embedded; ``failed_indices`` and
                ``partial_embeddings`` index ``texts`` (the first error's type is kept).
            HfeError: a worker could not start embedding at all (e.g. ``ModelLoadError``).
        """
        if not self._actors:
            raise ConfigurationError("This RayEngine is closed.")
        items = list(texts)
        if not items:
            return np.zeros((0, 0), dtype=np.float32), ChunkCounters()
        step = max(1, min(self._rows_per_call, math.ceil(len(items) / (_CALLS_PER_ACTOR * self.workers))))
        starts = list(range(0, len(items), step))
        results: list[tuple[npt.NDArray[np.float32], ChunkCounters] | None] = [None] * len(starts)
        errors: dict[int, BaseException] = {}
        queue = deque(range(len(starts)))
        free = [actor for actor in self._actors for _ in range(_CALLS_PER_ACTOR)]
        pending: dict[Any, tuple[int, Any]] = {}
        while queue or pending:
            while queue and free:
                part, actor = queue.popleft(), free.pop()
                start = starts[part]
                ref = actor.embed_part.remote(items[start : start + step], input_type)
                pending[ref] = (part, actor)
            done, _ = self._ray.wait(list(pending), num_returns=1)
            for ref in done:
                part, actor = pending.pop(ref)
                free.append(actor)
                try:
                    outcome: _PartOutcome = self._ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost actor: raised below with what was computed
                    errors[part] = _cause(exc)
                    continue
                if outcome.error is not None:
                    errors[part] = outcome.error.restore()
                elif outcome.vectors is not None and outcome.counters is not None:
                    results[part] = (outcome.vectors, outcome.counters)
        if errors:
            self._raise_partial(items, starts, step, results, errors)
        vectors = np.concatenate([result[0] for result in results if result is not None])
        counters = ChunkCounters()
        for result in results:
            if result is not None:
                counters.add(result[1])
        return vectors.astype(np.float32, copy=False), counters

    def _raise_partial(
        self,
        items: list[str],
        starts: list[int],
        step: int,
        results: list[tuple[npt.NDArray[np.float32], ChunkCounters] | None],
        errors: dict[int, BaseException],
    ) -> None:
        """Raise the first call's error, its indices and partial vectors made relative to the chunk."""
        partial: list[list[float] | None] = [None] * len(items)
        failed: list[int] = []
        invalid: list[int] = []
        token_counts: list[int] = []
        for part, start in enumerate(starts):
            result, error = results[part], errors.get(part)
            if result is not None:
                partial[start : start + len(result[0])] = result[0].tolist()
            elif isinstance(error, EmbeddingError) and error.failed_indices:
                failed.extend(start + index for index in error.failed_indices)
                for index, vector in enumerate(error.partial_embeddings):
                    partial[start + index] = vector
            else:
                failed.extend(range(start, min(start + step, len(items))))
                if isinstance(error, InvalidInputError):
                    invalid.extend(start + index for index in error.indices)
                    if isinstance(error, InputTooLongError):
                        token_counts.extend(error.token_counts)
        first_part = min(errors)
        first = errors[first_part]
        if isinstance(first, EmbeddingError):
            summary = (
                f"{len(failed)} of {len(items)} texts of the chunk could not be embedded on the Ray "
                f"workers ({len(errors)} of {len(starts)} calls failed)."
            )
            first.failed_indices = failed
            first.partial_embeddings = partial
            first.args = (f"{first.args[0] if first.args else ''} | {summary}",)
            raise first
        if isinstance(first, InvalidInputError):
            first.indices = invalid
            if isinstance(first, InputTooLongError):
                first.token_counts = token_counts
            first.args = (
                f"{first.args[0] if first.args else ''} [Ray: positions in this message count from "
                f"text {starts[first_part]} of the chunk; .indices count from its first text.]",
            )
            raise first
        if isinstance(first, HfeError):
            raise first
        raise EmbeddingError(
            f"{len(failed)} of {len(items)} texts of the chunk could not be embedded: a Ray worker failed "
            f"({type(first).__name__}: {first}).",
            failed_indices=failed,
            partial_embeddings=partial,
        ) from first

    def close(self) -> None:
        """Stop the actors, close this process's embedder, and shut down a Ray this engine started."""
        actors, self._actors = self._actors, []
        for actor in actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception as exc:  # noqa: BLE001 - best effort: the actor may already be gone
                logger.debug("hfe: could not stop a Ray actor: %s", exc)
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._owns_ray:
            self._owns_ray = False
            self._ray.shutdown()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cause(exc: BaseException) -> BaseException:
    """The worker's own exception inside a Ray task error (the exception itself otherwise)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
