"""Configuration of the TEI-protocol test server (:class:`TEIConfig`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

SUPPORTED_VERSIONS = ("1.8.3", "1.9.3")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_TYPES = ("embedding", "reranker", "splade")
"""What the served model is: TEI decides it from ``config.json`` and ``--pooling`` (router lib.rs)."""


def default_tokenization_workers() -> int:
    """TEI's default: ``clamp(num_cpus - 1, 1, 64)``."""
    return max(1, min((os.cpu_count() or 1) - 1, 64))


@dataclass
class TEIConfig:
    """Everything the server can be told; the defaults are those of a real TEI launched with the model.

    Fields read on every request (fault injection, service-time simulation, ``api_key``, ``healthy``)
    can be changed on a running server; the others take effect at the next ``start()`` or
    ``restart()``.
    """

    # --- identity and protocol version -----------------------------------------------------
    version: str = "1.9.3"
    """TEI release to imitate: ``"1.9.3"`` or ``"1.8.3"`` (any ``1.8.x`` / ``1.9.x`` is accepted)."""
    model_type: str = "embedding"
    """``"embedding"``: a sentence-transformers embedding model (``/embed``...). ``"reranker"``: a
    ``*ForSequenceClassification`` model with one label, loaded with ``CrossEncoder`` (``/rerank``).
    ``"splade"``: a ``*ForMaskedLM`` model with SPLADE pooling (TEI's ``--pooling splade``), loaded
    with ``SparseEncoder`` (``/embed_sparse``). ``/info.model_type`` and the ``POST /`` route follow."""
    model_path: str | None = None
    """Folder of a model of ``model_type``; ``None`` = the packaged all-MiniLM-L6-v2 for
    ``"embedding"``, a tiny model built from a config (``tests/tiny_models.py``) for the others."""
    model_id: str = DEFAULT_MODEL_ID
    """What ``/info`` reports as ``model_id`` (and the ``/v1`` ``model`` before 1.9)."""
    served_model_name: str | None = None
    """``/info.served_model_name`` and the ``/v1`` ``model`` (1.9+); ``None`` = ``model_id``."""
    model_sha: str | None = None
    model_dtype: str = "float32"
    sha: str | None = None
    docker_label: str | None = None

    # --- router limits (TEI CLI flags) ------------------------------------------------------
    max_concurrent_requests: int = 512
    max_batch_tokens: int = 16384
    max_batch_requests: int | None = None
    max_client_batch_size: int = 32
    max_input_length: int | None = None
    """``None`` = ``min(model max_seq_length, max_batch_tokens)`` as TEI derives it."""
    auto_truncate: bool | None = None
    """``None`` = the version default (true from 1.9.0, false before)."""
    payload_limit: int = 2_000_000
    api_key: str | None = None
    tokenization_workers: int | None = None
    """Threads tokenizing long inputs; ``None`` = TEI's default ``clamp(ncpu - 1, 1, 64)``."""

    # --- prompts ----------------------------------------------------------------------------
    prompts: dict[str, str] | None = None
    """Prompt catalogue; ``None`` = the model's ``config_sentence_transformers.json`` ``prompts``
    (absent for all-MiniLM-L6-v2) unless ``prompts_from_model`` is false."""
    prompts_from_model: bool = True
    default_prompt_name: str | None = None
    default_prompt: str | None = None

    # --- compute ----------------------------------------------------------------------------
    slots: int = 1
    """Parallel inference workers; each takes a server-side batch from the queue."""
    vectors: str = "model"
    """``"model"``: the real model. ``"hash"``: cheap deterministic unit vectors of ``hash_dim``
    seeded by the token ids (tokenization and token counting still use the real tokenizer)."""
    hash_dim: int = 384
    gelu: str = "tanh"
    """``"tanh"``: the tanh-approximated GELU that TEI's candle backend uses for BERT ``"gelu"``
    (matches TEI's snapshots to ~2e-7); ``"exact"``: PyTorch's erf GELU, as sentence-transformers."""

    # --- service-time simulation (live) ---------------------------------------------------------
    latency_ms: float = 0.0
    """Fixed delay added to every embed request while it holds its permits."""
    ms_per_token: float = 0.0
    """Delay per computed token; an inference slot stays busy for it (server-side throughput)."""

    # --- seeded fault injection (live) ----------------------------------------------------------
    seed: int = 0
    fail_429: float = 0.0
    """Fraction of embed requests answered 429 ``Model is overloaded``."""
    fail_503: float = 0.0
    """Fraction of embed requests answered 503 ``unhealthy``."""
    drop_connection: float = 0.0
    """Fraction of embed requests whose connection is closed without an answer."""
    slow_fraction: float = 0.0
    slow_ms: float = 0.0
    healthy: bool = True
    """``False``: ``/health`` answers 503 ``{"error":"unhealthy","error_type":"Unhealthy"}``."""

    # --- process ------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    startup_delay_s: float = 0.0
    """Seconds between the start and the moment the port listens (TEI listens only once loaded)."""
    shutdown_timeout_s: float = 0.5
    """How long ``stop()`` lets in-flight requests finish before cancelling them."""
    stats_route: str | None = None
    """Extra non-TEI route (e.g. ``"/__stats"``): GET = stats JSON, DELETE = reset. Off by default."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes for callers; ignored by the server."""

    # ------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for settings a real TEI would refuse or this server cannot imitate."""
        if self.version_tuple[:2] not in ((1, 8), (1, 9)):
            raise ValueError(
                f"version must be 1.8.x or 1.9.x (e.g. {SUPPORTED_VERSIONS}), got {self.version!r}"
            )
        if self.host not in LOOPBACK_HOSTS:
            raise ValueError(f"the test server listens on loopback only, not {self.host!r}")
        if self.vectors not in ("model", "hash"):
            raise ValueError(f"vectors must be 'model' or 'hash', got {self.vectors!r}")
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if self.vectors == "hash" and self.model_type != "embedding":
            raise ValueError("vectors='hash' exists only for model_type='embedding'")
        if self.gelu not in ("tanh", "exact"):
            raise ValueError(f"gelu must be 'tanh' or 'exact', got {self.gelu!r}")
        for name in ("fail_429", "fail_503", "drop_connection", "slow_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.fail_429 + self.fail_503 + self.drop_connection > 1.0:
            raise ValueError("fail_429 + fail_503 + drop_connection must not exceed 1")
        for name in (
            "max_concurrent_requests",
            "max_batch_tokens",
            "max_client_batch_size",
            "slots",
            "hash_dim",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.payload_limit < 0:
            raise ValueError("payload_limit must be >= 0")
        if self.default_prompt is not None and self.default_prompt_name is not None:
            raise ValueError("set default_prompt or default_prompt_name, not both (TEI refuses both)")

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """``"1.9.3"`` -> ``(1, 9, 3)``."""
        try:
            return tuple(int(part) for part in self.version.split("."))
        except ValueError:
            return (0,)

    @property
    def is_v19(self) -> bool:
        """True for the 1.9 semantics (422 validation, auto-truncate on, lowercase aliases...)."""
        return self.version_tuple[:2] >= (1, 9)

    @property
    def effective_auto_truncate(self) -> bool:
        """``auto_truncate``, or its version default when unset."""
        return self.is_v19 if self.auto_truncate is None else self.auto_truncate

    @property
    def validation_status(self) -> int:
        """HTTP status of ``Validation`` errors: 422 from 1.9.0, 413 before."""
        return 422 if self.is_v19 else 413

    @property
    def response_model_name(self) -> str:
        """The ``model`` field of ``/v1/embeddings`` answers."""
        if self.is_v19:
            return self.served_model_name or self.model_id
        return self.model_id

    def copy(self, **changes: Any) -> TEIConfig:
        """A copy with some fields changed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return TEIConfig(**values)
