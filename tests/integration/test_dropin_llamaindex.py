"""Issue 12, LlamaIndex half: hfe's drop-ins against the real peers, side by side.

Each test constructs LlamaIndex's own class (llama-index-embeddings-huggingface,
-huggingface-api, -text-embeddings-inference) and hfe's same-named class from the same keyword
arguments, and compares what they return: local mode on the packaged all-MiniLM-L6-v2 weights,
tei mode against the project's TEI-protocol server (tests/tei_server) with the real model, and
the Inference API class pointed at that server by URL. Nothing is mocked. Indexes are real
LlamaIndex ``VectorStoreIndex`` objects, persisted and loaded again.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.embeddings.huggingface import HuggingFaceEmbedding as PeerLocal
from llama_index.embeddings.huggingface_api import HuggingFaceInferenceAPIEmbedding as PeerAPI
from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference as PeerTEI

from hfe_core import AuthenticationError, ConfigurationError, InputTooLongError
from hfe_core.backends.endpoint import DedicatedEndpointBackend, ServerlessBackend
from llamaindex_hfe import (
    HFEmbedding,
    HuggingFaceEmbedding,
    HuggingFaceInferenceAPIEmbedding,
    TextEmbeddingsInference,
)
from llamaindex_hfe.dropin import PEER_DEFAULT_LOCAL_MODEL, PEER_DEFAULT_TEI_URL
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID

pytestmark = pytest.mark.model

SECRET = "hf_dropinSECRETtoken4711"
TOL = 1e-5
TEXTS = [
    "The cat sat on the mat.",
    "  Leading and trailing spaces  ",
    "line one\nline two",
    "word " * 300,  # over the model's 256 tokens: truncated by both
]
QUERY = "  Where did the cat sit? "
CORPUS = [
    "Paris is the capital of France.",
    "Bern is the capital of Switzerland.",
    "The cat sat on the mat.",
    "Photosynthesis turns light into chemical energy.",
    "The Rhine flows through Basel.",
    "Embeddings map text to vectors.",
]
QUESTIONS = ["What is the capital of France?", "Which river flows through Basel?", "How do plants use light?"]
#: Largest difference seen per case, printed at the end of the module (for the report).
DIFFS: dict[str, float] = {}


def _max_diff(case: str, got: Any, want: Any) -> float:
    diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    DIFFS[case] = max(diff, DIFFS.get(case, 0.0))
    return diff


@pytest.fixture(scope="module", autouse=True)
def _report_diffs() -> Iterator[None]:
    yield
    for case, diff in sorted(DIFFS.items()):
        print(f"peer vs hfe  {case:<48} max abs diff {diff:.2e}")


@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    """A TEI 1.9 server computing with the real packaged model."""
    with TEIServer(slots=2) as server:
        yield server


@pytest.fixture
def hub_online_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub refuses every request offline, the loopback server's too: allow them here.

    Only the peer's ``InferenceClient`` reads this; it is pointed at the loopback TEI server by URL,
    so nothing leaves the machine (as tests/endpoint_sim's ``hub_pointed_at`` does).
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def _compare(case: str, peer: Any, ours: Any, *, texts: list[str] = TEXTS, query: str = QUERY) -> None:
    assert (
        _max_diff(
            f"{case}: text batch", ours.get_text_embedding_batch(texts), peer.get_text_embedding_batch(texts)
        )
        < TOL
    )
    assert _max_diff(f"{case}: query", ours.get_query_embedding(query), peer.get_query_embedding(query)) < TOL


# --- local mode: HuggingFaceEmbedding --------------------------------------------------------------


LOCAL_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "instructions": {"query_instruction": "query: ", "text_instruction": "passage: "},
    "max_length=16": {"max_length": 16},
    "max_length=512": {"max_length": 512},
    "embed_batch_size=2": {"embed_batch_size": 2},
}


@pytest.mark.parametrize("case", list(LOCAL_CASES))
def test_local_dropin_matches_the_peer(case: str, model_path: str) -> None:
    kwargs = {"model_name": model_path, "device": "cpu", **LOCAL_CASES[case]}
    ours = HuggingFaceEmbedding(**kwargs)
    _compare(f"HuggingFaceEmbedding {case}", PeerLocal(**kwargs), ours)
    if "embed_batch_size" in kwargs:  # LlamaIndex's texts per call and the forward-pass batch, as the peer
        assert ours.embed_batch_size == ours.batch_size == kwargs["embed_batch_size"]


@pytest.fixture(scope="module")
def unnormalized_model(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> str:
    """A copy of the packaged model without its Normalize module: normalize= then changes the vectors."""
    folder = tmp_path_factory.mktemp("raw") / "minilm-without-normalize"
    shutil.copytree(model_path, folder)
    modules_path = folder / "modules.json"
    modules = [m for m in json.loads(modules_path.read_text()) if not m["type"].endswith("Normalize")]
    modules_path.write_text(json.dumps(modules))
    return str(folder)


@pytest.mark.parametrize("normalize", [True, False])
def test_local_normalize_matches_the_peer(normalize: bool, unnormalized_model: str) -> None:
    kwargs = {"model_name": unnormalized_model, "device": "cpu", "normalize": normalize}
    ours = HuggingFaceEmbedding(**kwargs)
    _compare(f"HuggingFaceEmbedding normalize={normalize}", PeerLocal(**kwargs), ours)
    norms = np.linalg.norm(np.asarray(ours.get_text_embedding_batch(TEXTS)), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5) is normalize  # the argument matters for this model


def test_local_arguments_change_the_vectors_as_in_the_peer(model_path: str) -> None:
    """The cases above are not vacuous: each argument changes the vectors, for both."""
    plain = HuggingFaceEmbedding(model_name=model_path, device="cpu")
    long_text = [TEXTS[3]]
    base = np.asarray(plain.get_text_embedding_batch(long_text))
    for kwargs in ({"max_length": 16}, {"max_length": 512}, {"text_instruction": "passage: "}):
        changed = HuggingFaceEmbedding(model_name=model_path, device="cpu", **kwargs)
        assert np.abs(np.asarray(changed.get_text_embedding_batch(long_text)) - base).max() > 1e-3, kwargs
    instructed = HuggingFaceEmbedding(model_name=model_path, device="cpu", query_instruction="query: ")
    assert (
        np.abs(np.asarray(instructed.get_query_embedding(QUERY)) - plain.get_query_embedding(QUERY)).max()
        > 1e-3
    )


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> str:
    """A copy of the packaged model that carries saved prompts, as E5-style models do."""
    folder = tmp_path_factory.mktemp("prompted") / "minilm-with-prompts"
    shutil.copytree(model_path, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    config_path.write_text(json.dumps(config))
    return str(folder)


def test_local_dropin_ignores_saved_prompts_as_the_peer_does(prompted_model: str) -> None:
    # The peer passes prompts={"query": "", "text": ""}, which override the model's saved ones.
    kwargs = {"model_name": prompted_model, "device": "cpu"}
    ours = HuggingFaceEmbedding(**kwargs)
    _compare("HuggingFaceEmbedding saved prompts", PeerLocal(**kwargs), ours)
    # hfe's own adapter uses the saved prompts: the drop-in must not (another index, other vectors).
    own = HFEmbedding(model=prompted_model, device="cpu")
    assert np.abs(np.asarray(own.get_query_embedding(QUERY)) - ours.get_query_embedding(QUERY)).max() > 1e-3


def test_local_instruction_table_by_model_name(
    tmp_path: Path, model_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The peer picks the BGE query instruction from the exact name "BAAI/bge-small-en-v1.5"; a local
    # folder of that name (the MiniLM weights) lets both load it offline.
    shutil.copytree(model_path, tmp_path / "BAAI" / "bge-small-en-v1.5")
    monkeypatch.chdir(tmp_path)
    kwargs = {"model_name": "BAAI/bge-small-en-v1.5", "device": "cpu"}
    ours = HuggingFaceEmbedding(**kwargs)
    assert ours.query_prompt == "Represent this question for searching relevant passages: "
    assert ours.document_prompt == ""
    _compare("HuggingFaceEmbedding BGE name", PeerLocal(**kwargs), ours)


def test_local_defaults_are_the_peers() -> None:
    assert (
        HuggingFaceEmbedding("some-org/some-model").model == "some-org/some-model"
    )  # positional, as the peer
    ours = HuggingFaceEmbedding()  # nothing is loaded
    assert ours.model == ours.model_name == PEER_DEFAULT_LOCAL_MODEL == "BAAI/bge-small-en"
    assert ours.query_prompt == "Represent this question for searching relevant passages: "
    assert ours.mode == "local" and ours.normalize is True and ours.max_length is None
    from llama_index.core.utils import get_cache_dir

    assert ours.cache_folder == get_cache_dir()  # where the peer downloaded its models


def test_local_sentence_transformer_arguments_reach_the_model(model_path: str) -> None:
    ours = HuggingFaceEmbedding(
        model_name=model_path,
        device="cpu",
        max_length=64,
        trust_remote_code=True,
        model_kwargs={"attn_implementation": "eager"},
        truncate_dim=32,
    )
    assert ours.sentence_transformers_kwargs == {"truncate_dim": 32}
    arguments = ours.embedder.settings.model_kwargs
    assert arguments["trust_remote_code"] is True and arguments["truncate_dim"] == 32
    assert arguments["model_kwargs"] == {"attn_implementation": "eager"}
    model = ours.embedder.backend.sentence_transformer
    assert model.max_seq_length == 64
    assert len(ours.get_text_embedding("x")) == ours.dimension == 32


# --- tei mode: TextEmbeddingsInference --------------------------------------------------------------


TEI_CASES: dict[str, dict[str, Any]] = {
    "truncate_text=True": {"model_name": MODEL_ID, "truncate_text": True},
    "instructions": {"model_name": MODEL_ID, "query_instruction": "query:", "text_instruction": "passage: "},
    "BGE model_name": {"model_name": "BAAI/bge-small-en-v1.5"},  # the peer's table adds a query instruction
    "embed_batch_size=2": {"model_name": MODEL_ID, "embed_batch_size": 2},
}


@pytest.mark.parametrize("case", list(TEI_CASES))
def test_tei_dropin_matches_the_peer(case: str, tei: TEIServer) -> None:
    kwargs = {"base_url": tei.url, **TEI_CASES[case]}
    ours = TextEmbeddingsInference(**kwargs)
    _compare(f"TextEmbeddingsInference {case}", PeerTEI(**kwargs), ours)
    assert ours.mode == "tei" and ours.embedder.backend.stats.requests > 0  # the server answered


def test_tei_issue_snippet_calls_the_server(tei: TEIServer) -> None:
    """The issue's snippet: no raw pydantic error, and never local mode."""
    before = tei.stats.count("/embed")
    ours = TextEmbeddingsInference(base_url=tei.url, truncate_text=True)
    assert (ours.mode, ours.url, ours.truncation, ours.base_url, ours.truncate_text) == (
        "tei",
        tei.url,
        "truncate",
        tei.url,
        True,
    )
    peer = PeerTEI(model_name=MODEL_ID, base_url=tei.url, truncate_text=True)
    assert (
        _max_diff(
            "TextEmbeddingsInference no model_name",
            ours.get_text_embedding_batch(TEXTS),
            peer.get_text_embedding_batch(TEXTS),
        )
        < TOL
    )
    assert tei.stats.count("/embed") > before
    assert TextEmbeddingsInference(model_name=MODEL_ID).url == PEER_DEFAULT_TEI_URL
    positional = TextEmbeddingsInference(MODEL_ID, tei.url)  # the peer's positional order
    assert (positional.model_name, positional.url) == (MODEL_ID, tei.url)


def test_tei_truncate_text_false_raises_a_typed_error(tei: TEIServer) -> None:
    ours = TextEmbeddingsInference(model_name=MODEL_ID, base_url=tei.url, truncate_text=False)
    assert ours.truncation == "error" and ours.truncate_text is False
    short = TEXTS[:3]
    _compare(
        "TextEmbeddingsInference truncate_text=False",
        PeerTEI(model_name=MODEL_ID, base_url=tei.url, truncate_text=False),
        ours,
        texts=short,
    )
    with pytest.raises(InputTooLongError) as caught:
        ours.get_text_embedding_batch(TEXTS)
    assert caught.value.indices == [3]


def test_tei_endpoint_argument(tei: TEIServer) -> None:
    for endpoint in ("/embed", "/", "/invocations"):
        ours = TextEmbeddingsInference(model_name=MODEL_ID, base_url=tei.url, endpoint=endpoint)
        peer = PeerTEI(model_name=MODEL_ID, base_url=tei.url, endpoint=endpoint)
        assert (
            _max_diff(
                "TextEmbeddingsInference endpoint=",
                ours.get_text_embedding("a"),
                peer.get_text_embedding("a"),
            )
            < TOL
        )
    assert (
        TextEmbeddingsInference(base_url="http://proxy:80", endpoint="/tei/embed").url
        == "http://proxy:80/tei"
    )


async def test_tei_async_matches_sync(tei: TEIServer) -> None:
    ours = TextEmbeddingsInference(model_name=MODEL_ID, base_url=tei.url, text_instruction="passage:")
    got = await ours.aget_text_embedding_batch(TEXTS)
    assert _max_diff("TextEmbeddingsInference async", got, ours.get_text_embedding_batch(TEXTS)) < TOL
    query = await ours.aget_query_embedding(QUERY)
    assert _max_diff("TextEmbeddingsInference async", query, ours.get_query_embedding(QUERY)) < TOL


@pytest.fixture
def keyed_tei() -> Iterator[TEIServer]:
    """A TEI server with an API key (hashed vectors: only authentication is tested)."""
    with TEIServer(vectors="hash", api_key="key-one") as server:
        yield server


def test_tei_auth_token_as_str_and_as_callable(keyed_tei: TEIServer) -> None:
    url = keyed_tei.url
    with pytest.raises(AuthenticationError):
        TextEmbeddingsInference(model_name=MODEL_ID, base_url=url).get_text_embedding("x")
    fixed = TextEmbeddingsInference(model_name=MODEL_ID, base_url=url, auth_token="key-one")
    assert len(fixed.get_text_embedding("x")) == 384
    current = {"key": "key-one"}
    calls: list[str] = []

    def token_for(base_url: str) -> str:
        calls.append(base_url)
        return current["key"]

    ours = TextEmbeddingsInference(model_name=MODEL_ID, base_url=url, auth_token=token_for)
    peer = PeerTEI(model_name=MODEL_ID, base_url=url, auth_token=token_for)
    assert (
        _max_diff(
            "TextEmbeddingsInference auth_token callable",
            ours.get_text_embedding_batch(["a", "b"]),
            peer.get_text_embedding_batch(["a", "b"]),
        )
        < TOL
    )
    assert calls and set(calls) == {url}  # called with base_url, as the peer calls it
    # The key rotates: the callable's new token is used from the next call on.
    keyed_tei.config.api_key = current["key"] = "key-two"
    assert len(ours.get_query_embedding("after rotation")) == 384
    with pytest.raises(AuthenticationError):
        fixed.get_text_embedding("the old key")
    for text in (repr(ours), json.dumps(ours.to_dict()), ours.to_json(), ours.model_dump_json()):
        assert "key-two" not in text and "key-one" not in text
    assert b"key-two" not in pickle.dumps(ours)


# --- endpoint mode: HuggingFaceInferenceAPIEmbedding --------------------------------------------------


def test_api_dropin_with_a_url_matches_the_peer(tei: TEIServer, hub_online_for_loopback: None) -> None:
    # The peer's InferenceClient takes a URL as model_name (a dedicated Inference Endpoint): here
    # the loopback TEI server. The peer's sync calls open a new event loop each, and its cached
    # async client breaks on the second one (huggingface_hub 1.x): one fresh peer per call.
    for case, kwargs in (
        ("defaults", {}),
        ("instructions", {"query_instruction": "query:", "text_instruction": "passage:"}),
    ):
        kwargs = {"model_name": tei.url, **kwargs}
        ours = HuggingFaceInferenceAPIEmbedding(**kwargs)
        assert (ours.mode, ours.url, ours.normalize, ours.provider) == ("endpoint", tei.url, True, None)
        assert isinstance(ours.embedder.backend, DedicatedEndpointBackend)
        name = f"HuggingFaceInferenceAPIEmbedding URL {case}"
        assert (
            _max_diff(
                f"{name}: text batch",
                ours.get_text_embedding_batch(TEXTS),
                PeerAPI(**kwargs).get_text_embedding_batch(TEXTS),
            )
            < TOL
        )
        assert (
            _max_diff(
                f"{name}: query",
                ours.get_query_embedding(QUERY),
                PeerAPI(**kwargs).get_query_embedding(QUERY),
            )
            < TOL
        )


def test_api_dropin_argument_mapping_for_a_model_id() -> None:
    # No Hub access here: construction, mapping and the backend hfe builds (no request is sent).
    ours = HuggingFaceInferenceAPIEmbedding(
        model_name="BAAI/bge-small-en-v1.5",
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=None,
        pooling="cls",
        task="feature-extraction",
    )
    assert (ours.mode, ours.model, ours.url, ours.provider) == (
        "endpoint",
        "BAAI/bge-small-en-v1.5",
        None,
        "auto",
    )
    assert ours.normalize is False  # the serverless answer as the provider computes it, as the peer
    assert ours.pooling is None and ours.timeout == 60.0
    assert ours.token is not None and ours.token.get_secret_value() == SECRET
    backend = ours.embedder.backend
    assert isinstance(backend, ServerlessBackend)
    assert (backend.target, backend.provider) == ("BAAI/bge-small-en-v1.5", "auto")
    # The peer's formatting, by its table (llama-index-utils-huggingface, which the peer calls).
    from llama_index.utils.huggingface import format_query, format_text

    for text in (" q ", "", "x\n"):
        assert ours._query_text(text) == format_query(text, "BAAI/bge-small-en-v1.5", None)
        assert ours._document_text(text) == format_text(text, "BAAI/bge-small-en-v1.5", None)
    for name in ("hkunlp/instructor-xl", "BAAI/bge-large-zh", "intfloat/e5-small-v2"):
        named = HuggingFaceInferenceAPIEmbedding(model_name=name)
        assert named._query_text("q") == format_query("q", name, None)
        assert named._document_text("t") == format_text("t", name, None)
    mean = HuggingFaceInferenceAPIEmbedding(
        model_name="facebook/bart-base", pooling="mean", provider="nebius"
    )
    assert (mean.pooling, mean.provider) == ("mean", "nebius")
    assert HuggingFaceInferenceAPIEmbedding(model_name="m", token=True).token is None  # the stored login
    dedicated = HuggingFaceInferenceAPIEmbedding(
        model_name="https://abc.us-east-1.aws.endpoints.huggingface.cloud"
    )
    assert (dedicated.mode, dedicated.normalize) == ("endpoint", True)
    assert isinstance(dedicated.embedder.backend, DedicatedEndpointBackend)


# --- a VectorStoreIndex built by one, queried by the other ---------------------------------------------


def _nodes(index: VectorStoreIndex, question: str) -> list[tuple[str, float]]:
    return [
        (hit.node.node_id, float(hit.score or 0.0))
        for hit in index.as_retriever(similarity_top_k=3).retrieve(question)
    ]


def _swap_and_query(tmp_path: Path, builder: Any, querier: Any) -> None:
    documents = [Document(text=text, id_=f"doc-{number}") for number, text in enumerate(CORPUS)]
    built = VectorStoreIndex.from_documents(documents, embed_model=builder)
    built.storage_context.persist(persist_dir=str(tmp_path))
    loaded = load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(tmp_path)), embed_model=querier
    )
    assert isinstance(loaded, VectorStoreIndex)
    for question in QUESTIONS:
        want, got = _nodes(built, question), _nodes(loaded, question)
        assert [node for node, _ in got] == [node for node, _ in want]
        assert np.allclose([score for _, score in got], [score for _, score in want], atol=TOL)
    top = loaded.as_retriever(similarity_top_k=1).retrieve(QUESTIONS[0])[0]
    assert top.node.get_content() == CORPUS[0]


@pytest.mark.parametrize("direction", ["peer builds, hfe queries", "hfe builds, peer queries"])
def test_local_index_survives_the_import_change(direction: str, tmp_path: Path, model_path: str) -> None:
    peer, ours = (
        PeerLocal(model_name=model_path, device="cpu"),
        HuggingFaceEmbedding(model_name=model_path, device="cpu"),
    )
    builder, querier = (peer, ours) if direction.startswith("peer") else (ours, peer)
    _swap_and_query(tmp_path, builder, querier)


@pytest.mark.parametrize("direction", ["peer builds, hfe queries", "hfe builds, peer queries"])
def test_tei_index_survives_the_import_change(direction: str, tmp_path: Path, tei: TEIServer) -> None:
    kwargs = {"model_name": MODEL_ID, "base_url": tei.url, "truncate_text": True}
    peer, ours = PeerTEI(**kwargs), TextEmbeddingsInference(**kwargs)
    builder, querier = (peer, ours) if direction.startswith("peer") else (ours, peer)
    _swap_and_query(tmp_path, builder, querier)


# --- callback_manager ------------------------------------------------------------------------------------


def _embedding_events(make: Callable[[CallbackManager], Any]) -> list[tuple[int, int]]:
    handler = LlamaDebugHandler()
    model = make(CallbackManager([handler]))
    model.get_text_embedding_batch(["one", "two", "three"])
    model.get_query_embedding("four")
    pairs = handler.get_event_pairs(CBEventType.EMBEDDING)
    return [(len(end.payload["chunks"]), len(end.payload["embeddings"])) for _, end in pairs]


def test_callback_manager_gets_the_peers_events(model_path: str, tei: TEIServer) -> None:
    local = {"model_name": model_path, "device": "cpu"}
    want = _embedding_events(lambda cm: PeerLocal(callback_manager=cm, **local))
    assert want == [(3, 3), (1, 1)]
    assert _embedding_events(lambda cm: HuggingFaceEmbedding(callback_manager=cm, **local)) == want
    remote = {"model_name": MODEL_ID, "base_url": tei.url}
    assert _embedding_events(lambda cm: PeerTEI(callback_manager=cm, **remote)) == want
    assert _embedding_events(lambda cm: TextEmbeddingsInference(callback_manager=cm, **remote)) == want


# --- serialization ---------------------------------------------------------------------------------------


def _serialized(model: Any) -> list[str]:
    return [
        repr(model),
        str(model),
        json.dumps(model.to_dict()),
        model.to_json(),
        model.model_dump_json(),
        json.dumps(model.model_dump(), default=str),
    ]


SERIALIZED_CASES: dict[str, Callable[[], Any]] = {
    "HuggingFaceEmbedding": lambda: HuggingFaceEmbedding(
        model_name=MODEL_ID, token=SECRET, max_length=128, query_instruction="q: ", trust_remote_code=True
    ),
    "TextEmbeddingsInference": lambda: TextEmbeddingsInference(
        model_name=MODEL_ID,
        base_url="http://127.0.0.1:1",
        auth_token=SECRET,
        query_instruction="q:",
        truncate_text=False,
    ),
    "HuggingFaceInferenceAPIEmbedding": lambda: HuggingFaceInferenceAPIEmbedding(
        model_name="BAAI/bge-small-en-v1.5",
        headers={"Authorization": f"Bearer {SECRET}"},
        text_instruction="t:",
    ),
}


@pytest.mark.parametrize("case", list(SERIALIZED_CASES))
def test_serialization_has_no_token_and_round_trips(case: str) -> None:
    model = SERIALIZED_CASES[case]()
    assert model.token.get_secret_value() == SECRET
    if case == "TextEmbeddingsInference":
        assert (model.query_instruction, model.truncation) == ("q:", "error")
    for text in _serialized(model):
        assert SECRET not in text
    assert model.to_dict()["class_name"] == case
    # from_dict: the same settings, and the peer's names keep their meaning (no double translation).
    again = type(model).from_dict(model.to_dict())
    assert again.to_dict() == model.to_dict()
    assert again.token is None  # no token in this test environment, none in the dict
    for field in ("query_prompt", "document_prompt", "url", "mode", "truncation", "normalize", "provider"):
        assert getattr(again, field) == getattr(model, field), field
    if case == "HuggingFaceEmbedding":
        assert (
            again.embedder.settings.model_kwargs
            == model.embedder.settings.model_kwargs
            == {
                "trust_remote_code": True,
                "processor_kwargs": {"model_max_length": 128},
            }
        )
    else:
        assert (
            again.query_instruction == model.query_instruction
            and again.text_instruction == model.text_instruction
        )
    pickled = pickle.dumps(model)
    assert SECRET.encode() not in pickled
    restored = pickle.loads(pickled)
    assert restored.to_dict() == model.to_dict() and restored.token is None


def test_a_peer_dict_loads_into_the_dropin() -> None:
    """A dict the peer serialized (its token included) loads into hfe's class; hfe's own dict has none."""
    peer = PeerTEI(
        model_name=MODEL_ID, base_url="http://127.0.0.1:1", auth_token=SECRET, text_instruction="t:"
    )
    stored = peer.to_dict()
    assert SECRET in json.dumps(stored)  # the peer writes the token into its dict
    ours = TextEmbeddingsInference.from_dict(stored)
    assert ours.token.get_secret_value() == SECRET and ours.text_instruction == "t:"
    assert (ours.url, ours.truncation, ours.model_name) == ("http://127.0.0.1:1", "truncate", MODEL_ID)
    assert all(SECRET not in text for text in _serialized(ours))


def test_local_peer_dict_loads_into_the_dropin(model_path: str) -> None:
    stored = PeerLocal(model_name=model_path, device="cpu", max_length=64, query_instruction="q: ").to_dict()
    ours = HuggingFaceEmbedding.from_dict(stored)
    assert (ours.max_length, ours.query_prompt, ours.show_progress) == (64, "q: ", False)
    assert ours.embedder.backend.sentence_transformer.max_seq_length == 64


# --- refused arguments and unknown keywords -----------------------------------------------------------------


URL = "http://127.0.0.1:1"
REFUSED: list[tuple[type[Any], dict[str, Any], tuple[str, ...]]] = [
    (HuggingFaceEmbedding, {"parallel_process": True}, ("parallel_process", "device=")),
    (HuggingFaceEmbedding, {"target_devices": ["cuda:0", "cuda:1"]}, ("target_devices", "device=")),
    (HuggingFaceEmbedding, {"tokenizer_name": SECRET}, ("tokenizer_name", "remove it")),
    (HuggingFaceEmbedding, {"pooling": "mean"}, ("pooling", "remove it")),
    (HuggingFaceEmbedding, {"prompts": {"query": SECRET}}, ("prompts", "query_instruction=")),
    (HuggingFaceEmbedding, {"base_url": f"http://{SECRET}:8080"}, ("base_url", "TextEmbeddingsInference")),
    (HuggingFaceEmbedding, {"mode": "tei"}, ("mode", "HFEmbedding")),
    (HuggingFaceEmbedding, {"hf_tokn": SECRET}, ("hf_tokn", "token")),
    (HuggingFaceEmbedding, {"query_instruction": 42}, ("query_instruction", "str")),
    (TextEmbeddingsInference, {"endpoint": "/v1/embeddings"}, ("endpoint", "route='openai'")),
    (TextEmbeddingsInference, {"truncate_text": SECRET}, ("truncate_text", "True or False")),
    (TextEmbeddingsInference, {"auth_token": 4711}, ("auth_token", "callable")),
    (TextEmbeddingsInference, {"auth_token": SECRET, "token": "other"}, ("auth_token", "token=")),
    (TextEmbeddingsInference, {"provider": "nebius"}, ("provider", "HuggingFaceInferenceAPIEmbedding")),
    (TextEmbeddingsInference, {"mode": "local"}, ("mode", "HFEmbedding")),
    (TextEmbeddingsInference, {"query_prompt": SECRET}, ("query_prompt", "query_instruction=")),
    (TextEmbeddingsInference, {"auth_tokn": SECRET}, ("auth_tokn",)),
    (HuggingFaceInferenceAPIEmbedding, {"cookies": {"session": SECRET}}, ("cookies", "token=")),
    (HuggingFaceInferenceAPIEmbedding, {"headers": {"X-Api-Key": SECRET}}, ("X-Api-Key", "token=")),
    (
        HuggingFaceInferenceAPIEmbedding,
        {"headers": {"Authorization": f"Basic {SECRET}"}},
        ("Bearer", "token="),
    ),
    (HuggingFaceInferenceAPIEmbedding, {"token": False}, ("token=False", "token=")),
    (HuggingFaceInferenceAPIEmbedding, {"pooling": "last"}, ("pooling", "pooling='mean'")),
    (HuggingFaceInferenceAPIEmbedding, {"model_name": None, "task": "feature-extraction"}, ("model_name=",)),
    (HuggingFaceInferenceAPIEmbedding, {"model_name": URL, "provider": "nebius"}, ("provider", "Remove")),
    (HuggingFaceInferenceAPIEmbedding, {"mode": "local"}, ("mode", "HFEmbedding")),
    (HuggingFaceInferenceAPIEmbedding, {"cookie": SECRET}, ("cookie",)),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "named"), REFUSED, ids=[f"{c.__name__}-{next(iter(k))}" for c, k, _ in REFUSED]
)
def test_refused_arguments_raise_a_typed_error_without_secrets(
    cls: type[Any], kwargs: dict[str, Any], named: tuple[str, ...]
) -> None:
    base = {"model_name": "BAAI/bge-small-en-v1.5"} if cls is HuggingFaceInferenceAPIEmbedding else {}
    with pytest.raises(ConfigurationError) as caught:
        cls(**{**base, **kwargs})
    error = caught.value
    assert isinstance(error, ValueError)
    message = str(error)
    for word in named:
        assert word in message, (word, message)
    chain = [error, error.__cause__, error.__context__]
    assert all(SECRET not in f"{item!s} {item!r}" for item in chain if item is not None)


def test_no_silent_local_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch, tei: TEIServer) -> None:
    monkeypatch.setenv("HFE_MODE", "local")
    monkeypatch.setenv("HFE_URL", "http://127.0.0.1:9")
    ours = TextEmbeddingsInference(model_name=MODEL_ID, base_url=tei.url)
    assert (ours.mode, ours.url) == ("tei", tei.url)
    api = HuggingFaceInferenceAPIEmbedding(model_name=tei.url)
    assert (api.mode, api.url) == ("endpoint", tei.url)
    assert os.environ["HFE_MODE"] == "local"
