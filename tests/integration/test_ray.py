"""hfe_core.ray on a local Ray instance: Ray Data, the batch job's engine, tei mode through Ray.

One Ray instance (2 CPUs) serves the whole module, and few actors are started, since each costs
a process (and, in local mode, a model load). The real packaged model runs in local mode; tei
mode talks to the project's TEI-protocol server on loopback (tests/tei_server). Nothing is mocked.

Ray workers get ``TEI_API_KEY`` in their own environment (``runtime_env`` of this instance, as
each node of a cluster would have it), never in task arguments: the token tests rely on it.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import ray

from hfe_core import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    Embedder,
    EmbedderSettings,
    EmbeddingError,
    InputTooLongError,
    ServerError,
)
from hfe_core.engines import Engine
from hfe_core.ray import HFEmbedActor, RayEngine, _dataset_workers, _plan_workers, embed_dataset
from tests.tei_server.harness import TEIServer

pytestmark = [pytest.mark.model]

#: The workers' own key for TEI servers started with api_key= (their environment, not task arguments).
WORKER_TEI_KEY = "tei-key-from-the-workers-environment"

_BASE = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "naïve café — résumé, crème brûlée",
    "日本語のテキストも埋め込めます。",
    "emoji 🚀✨ and symbols ©®",
    "line one\nline two\n\ttabbed",
    "   leading and trailing spaces   ",
    "a",
    "Ray Data hands each actor a batch of rows.",
]
_LONG = "word " * 300  # longer than the model's 256 tokens: truncated


def _text(i: int) -> str:
    if i % 50 == 7:
        return ""
    if i % 50 == 23:
        return f"{i} {_LONG}"
    return f"{i}: {_BASE[i % len(_BASE)]}" + " more" * (i % 5)


#: 200 varied texts: short and long (4, truncated), unicode, whitespace, empty strings (4).
TEXTS = [_text(i) for i in range(200)]
#: The same without the empty strings, which a TEI server refuses (400 Empty) and a job skips.
NONEMPTY = [index for index, text in enumerate(TEXTS) if text]
#: Local mode's forward batches: small, so that a long text pads few short ones to 256 tokens.
LOCAL_BATCH = 8


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """One local Ray instance for the module, shut down at its end."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"TEI_API_KEY": WORKER_TEI_KEY}},
    )
    context = ray.data.DataContext.get_current()
    progress = context.enable_progress_bars
    context.enable_progress_bars = False
    try:
        yield ray
    finally:
        context.enable_progress_bars = progress
        ray.shutdown()


@pytest.fixture(scope="module")
def single(model_path: str) -> Any:
    """What one process computes for TEXTS (the reference every Ray result must equal)."""
    return Embedder(model=model_path, batch_size=LOCAL_BATCH).embed(TEXTS)


# --- local mode: the same vectors as one process, row for row ---------------------------------------


def test_embed_dataset_matches_the_single_process_embedder(
    ray_local: Any, model_path: str, single: Any
) -> None:
    rows = [{"id": f"doc-{i}", "text": text, "extra": i * 3} for i, text in enumerate(TEXTS)]
    ds = ray_local.data.from_items(rows, override_num_blocks=8)  # 8 blocks of 25 rows
    settings = EmbedderSettings(model=model_path, batch_size=LOCAL_BATCH)
    # workers=2 on 2 CPUs is capped to 1 actor (one CPU stays with Ray Data's tasks, see below).
    out = embed_dataset(ds, settings=settings, workers=2, batch_size=40).take_all()  # >= 40 rows per call
    assert [row["id"] for row in out] == [row["id"] for row in rows]  # in input order
    assert [row["extra"] for row in out] == [row["extra"] for row in rows]  # other columns kept
    assert [row["text"] for row in out] == TEXTS
    vectors = np.stack([row["embedding"] for row in out])
    assert vectors.dtype == np.float32
    assert vectors.shape == (200, 384)
    # Batches are composed differently (2 blocks per actor call, not one call over all 200), so
    # padding differs and float sums round differently: equal to ~1e-7, compared at 1e-5.
    np.testing.assert_allclose(vectors, single.embeddings, atol=1e-5)


def test_embed_dataset_leaves_a_cpu_to_ray_datas_own_tasks(
    ray_local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A dataset read by Ray Data's tasks (range, read_parquet...): with 2 actors of 1 CPU on this 2-CPU
    # instance, the read tasks never got a CPU and the dataset hung without a word (issue 15).
    # The previous test's actor frees its CPU a moment after that test ends (seen under load in CI);
    # until then the cluster has 1 free CPU, and embed_dataset rightly says another thing.
    deadline = time.monotonic() + 60
    while ray_local.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    ds = ray_local.data.range(48, override_num_blocks=4).map(
        lambda row: {"id": row["id"], "text": f"row {row['id']}"}
    )
    out: list[Any] = []
    with TEIServer(vectors="hash") as server:
        with caplog.at_level(logging.WARNING, logger="hfe"):
            embedded = embed_dataset(ds, mode="tei", url=server.url, workers=2, batch_size=12)
        consumer = threading.Thread(target=lambda: out.extend(embedded.take_all()), daemon=True)
        consumer.start()
        consumer.join(timeout=120)
        if not out:
            pytest.fail(
                "embed_dataset(workers=2) on 2 CPUs produced nothing in 120 s: Ray Data's tasks got no CPU"
            )
        clean = Embedder(mode="tei", url=server.url).embed([f"row {i}" for i in range(48)]).embeddings
    assert [row["id"] for row in out] == list(range(48))
    np.testing.assert_allclose(np.stack([row["embedding"] for row in out]), clean, atol=1e-6)
    warned = [record.getMessage() for record in caplog.records if "embed_dataset" in record.getMessage()]
    assert warned and "Using 1 actor" in warned[0] and "would hang" in warned[0]


def test_dataset_workers_cap() -> None:
    # (workers, num_cpus per actor, free CPUs) -> what runs: one free CPU always stays with Ray Data's tasks.
    assert _dataset_workers(2, 1.0, 2.0, cpus_given=False) == (1, 1.0)
    assert _dataset_workers(4, 1.0, 16.0, cpus_given=False) == (4, 1.0)  # room enough: unchanged
    assert _dataset_workers(8, 1.0, 5.0, cpus_given=False) == (4, 1.0)
    assert _dataset_workers(4, 0.5, 2.0, cpus_given=True) == (2, 0.5)
    assert _dataset_workers(1, 1.0, 1.0, cpus_given=False) == (
        1,
        0.0,
    )  # a 1-CPU cluster: the actor asks for none
    assert _dataset_workers(2, 2.0, 2.5, cpus_given=True) == (1, 1.5)
    assert _dataset_workers(3, 0.0, 2.0, cpus_given=True) == (3, 0.0)  # actors without CPUs take none


class TestLocalEngine:
    """A local-mode RayEngine with the default worker count.

    The engine is stopped after this class: its actors hold both CPUs of the instance, which the
    other tests' actors need.
    """

    @pytest.fixture(scope="class")
    def local_engine(self, ray_local: Any, model_path: str) -> Iterator[RayEngine]:
        settings = EmbedderSettings(model=model_path, batch_size=LOCAL_BATCH)
        engine = RayEngine(settings, rows_per_call=30)  # a chunk spans many calls
        try:
            yield engine
        finally:
            engine.close()

    def test_engine_chunks_match_the_single_process_embedder(
        self, local_engine: RayEngine, single: Any
    ) -> None:
        assert isinstance(local_engine, Engine)
        assert local_engine.workers == 2  # default: one model per CPU of this 2-CPU instance
        vectors, counters = local_engine.embed_chunk(TEXTS, input_type="document")
        assert vectors.dtype == np.float32
        assert vectors.shape == (200, 384)
        # 7 calls of at most 30 texts over 2 actors, put back in order; padding differs (see above).
        np.testing.assert_allclose(vectors, single.embeddings, atol=1e-5)
        stats = single.stats
        assert counters.texts_embedded == stats.texts_embedded == 200
        assert counters.truncated == stats.truncated > 0  # the long texts, counted on the workers
        assert counters.chunked == 0
        assert (counters.requests, counters.retries, counters.tokens) == (0, 0, 0)  # no server in local mode

    def test_engine_empty_chunk(self, local_engine: RayEngine) -> None:
        vectors, counters = local_engine.embed_chunk([], input_type="document")
        assert vectors.shape[0] == 0
        assert counters.texts_embedded == 0

    def test_embed_file_through_ray_equals_the_job_without_ray(
        self, local_engine: RayEngine, model_path: str, tmp_path: Path
    ) -> None:
        from hfe_core.job import embed_file

        source = tmp_path / "corpus.jsonl"
        records = [{"id": f"r{i}", "text": TEXTS[i]} for i in NONEMPTY[:120]]
        records += records[:5]  # duplicates: deduplicated the same way on both paths
        source.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
        embed_file(
            source,
            tmp_path / "plain.parquet",
            id_field="id",
            chunk_size=64,
            model=model_path,
            batch_size=LOCAL_BATCH,
        )
        embed_file(source, tmp_path / "ray.parquet", id_field="id", chunk_size=64, engine=local_engine)
        plain, through_ray = (
            pq.read_table(tmp_path / "plain.parquet"),
            pq.read_table(tmp_path / "ray.parquet"),
        )
        assert through_ray.column("id").to_pylist() == plain.column("id").to_pylist()
        assert len(plain) == len(records)
        np.testing.assert_allclose(
            np.asarray(through_ray.column("embedding").to_pylist(), dtype=np.float32),
            np.asarray(plain.column("embedding").to_pylist(), dtype=np.float32),
            atol=1e-5,  # different batch composition, as above
        )


# --- tei mode: the server's concurrency shared out across workers --------------------------------------


@pytest.fixture(scope="module")
def tei_model_server() -> Iterator[TEIServer]:
    """A TEI 1.9 server with the packaged model and exact GELU (sentence-transformers' numbers)."""
    with TEIServer(gelu="exact", latency_ms=50) as server:
        yield server


@pytest.mark.parametrize(
    ("permits", "settings", "share"),
    [
        # Requests bind: each of the 2 workers keeps ceil(4 / 2) = 2 requests in flight (4 in all, not 8).
        (64, {"max_concurrency": 4, "batch_size": 4}, (2, 2)),
        # Permits bind: each keeps 8 // 2 = 4 inputs in flight and per request (8 in all, not 16).
        (8, {"max_concurrency": 8}, (2, 4)),
    ],
    ids=["requests", "permits"],
)
def test_tei_workers_share_the_servers_concurrency(
    ray_local: Any,
    single: Any,
    tei_model_server: TEIServer,
    permits: int,
    settings: dict[str, int],
    share: Any,
) -> None:
    server = tei_model_server
    server.config.max_concurrent_requests = permits
    server.restart()
    texts = [TEXTS[i] for i in NONEMPTY]
    with RayEngine(mode="tei", url=server.url, workers=2, rows_per_call=25, **settings) as engine:
        assert [(info["server_clients"], info["max_concurrency"]) for info in engine.worker_info] == [
            share
        ] * 2
        engine.embed_chunk(texts[:7], input_type="document")  # both actors busy once, /info read
        server.stats.reset()
        vectors, counters = engine.embed_chunk(texts, input_type="document")
    assert ray_local.is_initialized()  # the engine leaves a Ray it did not start running
    stats = server.stats
    assert stats.count("/embed", 429) == 0
    if settings["max_concurrency"] == 4:
        assert stats.max_in_flight_requests <= 4
        assert stats.max_in_flight_requests > 2  # more than one worker's share: both were sending
    else:
        assert max(stats.batch_sizes) <= 4
        assert stats.max_in_flight_inputs <= 8
        assert stats.max_in_flight_inputs > 4  # more than one worker's share: both were sending
    assert counters.texts_embedded == len(texts)
    assert counters.truncated == single.stats.truncated
    assert counters.requests == sum(n for (path, _), n in stats.requests.items() if path != "/health")
    assert counters.retries == 0
    assert counters.tokens == stats.tokens_embedded > 0
    # The server computes with the same weights and exact GELU; batches and padding differ.
    np.testing.assert_allclose(vectors, single.embeddings[NONEMPTY], atol=1e-5)


def test_partial_results_come_back_at_their_chunk_positions(ray_local: Any) -> None:
    texts = [f"partial {i} " + "x" * (i % 7) for i in range(60)]
    with TEIServer(vectors="hash") as server:
        clean = Embedder(mode="tei", url=server.url).embed(texts).embeddings
        server.config.fail_503 = 0.3
        with RayEngine(
            mode="tei", url=server.url, max_retries=0, batch_size=2, workers=2, rows_per_call=10
        ) as engine:
            with pytest.raises(ServerError) as caught:
                engine.embed_chunk(texts, input_type="document")
    error = caught.value
    assert isinstance(error, EmbeddingError)
    failed = set(error.failed_indices)
    assert 0 < len(failed) < len(texts)
    assert len(error.partial_embeddings) == len(texts)
    for index, vector in enumerate(error.partial_embeddings):
        if index in failed:
            assert vector is None
        else:
            assert vector is not None
            np.testing.assert_allclose(vector, clean[index], atol=1e-6)
    assert "calls failed" in str(error)
    assert "raised on a Ray worker" in str(error.__cause__)


def test_errors_that_pickle_cannot_rebuild_reach_the_driver(ray_local: Any) -> None:
    # InputTooLongError needs keyword arguments, so plain pickling (Ray's) cannot rebuild it.
    long = "word " * 400
    texts = [long if i in (3, 17) else f"short {i}" for i in range(20)]
    with TEIServer(vectors="hash") as server:
        with RayEngine(mode="tei", url=server.url, truncation="error", workers=2, rows_per_call=5) as engine:
            with pytest.raises(InputTooLongError) as caught:
                engine.embed_chunk(texts, input_type="document")
    error = caught.value
    assert error.indices == [3, 17]  # chunk positions, from two different calls
    assert len(error.token_counts) == 2
    assert min(error.token_counts) > error.max_tokens == 256


# --- tokens stay where they are -----------------------------------------------------------------------


def test_an_explicit_token_is_not_in_what_is_sent_to_workers(
    ray_local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hf_driver_secret_that_must_not_travel"
    settings = EmbedderSettings(mode="tei", url="http://127.0.0.1:9", token=secret)
    with caplog.at_level(logging.WARNING, logger="hfe"):
        kwargs = HFEmbedActor.constructor_kwargs(settings, workers=2)
    assert any("not sent to Ray workers" in record.getMessage() for record in caplog.records)
    for blob in (ray_local.cloudpickle.dumps(kwargs), pickle.dumps(kwargs)):
        assert secret.encode() not in blob
        assert pickle.loads(blob)["settings"].token is None  # this process has no token of its own
    assert kwargs["settings"].token.get_secret_value() == secret  # the driver's copy keeps it


def test_a_token_put_in_an_actor_mapping_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must not travel"):
        HFEmbedActor({"mode": "tei", "url": "http://127.0.0.1:9", "token": "hf_secret"})


def test_workers_use_the_token_of_their_own_environment(
    ray_local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    driver_token = "driver-token-that-this-server-refuses"
    with TEIServer(vectors="hash", api_key=WORKER_TEI_KEY) as server:
        with pytest.raises(AuthenticationError):  # the driver's token, used in this process
            Embedder(mode="tei", url=server.url, token=driver_token).embed(["a"])
        with caplog.at_level(logging.WARNING, logger="hfe"):
            engine = RayEngine(mode="tei", url=server.url, token=driver_token, workers=1)
        with engine:
            assert [info["token_source"] for info in engine.worker_info] == ["TEI_API_KEY"]
            vectors, _ = engine.embed_chunk(["a", "b"], input_type="query")
        assert vectors.shape == (2, 384)  # accepted: the workers sent their own TEI_API_KEY
        assert server.stats.count("/embed", 401) == 0
    assert any("TEI_API_KEY" in record.getMessage() for record in caplog.records)


def test_an_engine_the_cluster_has_no_room_for_raises_instead_of_hanging(ray_local: Any) -> None:
    with pytest.raises(ConfigurationError, match="did not start within 2"):
        RayEngine(mode="tei", url="http://127.0.0.1:9", workers=3, start_timeout=2)  # 3 CPUs of 2
    engine = RayEngine(mode="tei", url="http://127.0.0.1:9", workers=2, start_timeout=30)
    engine.close()  # the actors of the failed engine were stopped: these two found room


# --- planning and availability (no actors) ---------------------------------------------------------------


def test_worker_plan() -> None:
    gpus = {"CPU": 16.0, "GPU": 4.0}
    local = EmbedderSettings(model="m")
    assert _plan_workers(local, gpus, workers=None, num_gpus=None, num_cpus=None, spare_cpus=0) == (
        4,
        1.0,
        1.0,
    )
    half = _plan_workers(local, gpus, workers=None, num_gpus=0.5, num_cpus=None, spare_cpus=0)
    assert half == (8, 0.5, 1.0)  # two models per GPU
    cpu = EmbedderSettings(model="m", device="cpu")
    assert _plan_workers(cpu, gpus, workers=None, num_gpus=None, num_cpus=None, spare_cpus=1) == (
        15,
        0.0,
        1.0,
    )
    tei = EmbedderSettings(mode="tei", url="http://tei:8080")
    assert _plan_workers(tei, gpus, workers=None, num_gpus=None, num_cpus=None, spare_cpus=1) == (4, 0.0, 1.0)
    small = {"CPU": 2.0}
    assert _plan_workers(tei, small, workers=None, num_gpus=None, num_cpus=None, spare_cpus=1)[0] == 1
    assert _plan_workers(local, small, workers=3, num_gpus=None, num_cpus=None, spare_cpus=0)[0] == 3
    with pytest.raises(ConfigurationError, match="workers"):
        _plan_workers(local, small, workers=0, num_gpus=None, num_cpus=None, spare_cpus=0)


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(BackendUnavailableError, match=r"hfe\[ray\]"):
        RayEngine(model="m")
