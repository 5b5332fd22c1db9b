"""Issue 12: langchain_hfe's drop-ins side by side with the real langchain-huggingface.

Each case builds the peer and hfe's class of the same name from the same keyword arguments and
compares the vectors (1e-5). Local mode runs the packaged all-MiniLM-L6-v2, and a copy of it
without its Normalize module (a model that does not normalize, as many do not: that is where the
peer's ``normalize_embeddings=False`` default shows). tei mode runs the TEI test server with the
real model; the peer refuses URLs, so hfe is compared with the server's own ``/embed`` answers.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import re
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import langchain_huggingface
import numpy as np
import pytest

from hfe_core import ConfigurationError, HfeError
from hfe_core.adapter import PeerEmbedder
from langchain_hfe import HFEmbeddings, HuggingFaceEmbeddings, HuggingFaceEndpointEmbeddings
from tests.hostile import HostileServer
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID, cosine

pytestmark = pytest.mark.model

SECRET = "hf_DropInLeakCheck0123456789abcdef"
TEXTS = [
    "The cat sat on the mat.",
    "line one\nline two",
    "Ünïcödé text, with an em dash — and more.",
    "word " * 400,  # over the model's 256 tokens: both truncate
]
QUERY = "Where did the cat sit?"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def unnormalized_model(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The packaged model without its Normalize module: the genuine weights, raw mean-pooled vectors."""
    folder = tmp_path_factory.mktemp("minilm-unnormalized")
    for entry in Path(model_path).iterdir():
        if entry.name != "modules.json":
            (folder / entry.name).symlink_to(entry)
    modules = json.loads((Path(model_path) / "modules.json").read_text(encoding="utf-8"))
    kept = [module for module in modules if not module["type"].endswith("Normalize")]
    assert len(kept) == len(modules) - 1
    (folder / "modules.json").write_text(json.dumps(kept), encoding="utf-8")
    return str(folder)


def _max_diff(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def _norms(vectors: Any) -> np.ndarray:
    return np.linalg.norm(np.atleast_2d(np.asarray(vectors, dtype=np.float64)), axis=1)


# --- local mode: HuggingFaceEmbeddings, peer vs hfe -----------------------------------------------------

PROMPTS = {"query": "query: ", "passage": "passage: ", "search": "search: "}

#: (case, keyword arguments shared by both classes) -- run on the raw (unnormalized) model.
LOCAL_CASES: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("normalize", {"encode_kwargs": {"normalize_embeddings": True}}),
    ("prompt", {"encode_kwargs": {"prompt": "passage: "}}),
    (
        "query_encode_kwargs prompt",  # replaces encode_kwargs for queries: queries NOT normalized
        {"encode_kwargs": {"normalize_embeddings": True}, "query_encode_kwargs": {"prompt": "query: "}},
    ),
    ("query_encode_kwargs normalize", {"query_encode_kwargs": {"normalize_embeddings": True}}),
    (
        "prompt_name",
        {
            "model_kwargs": {"prompts": PROMPTS},
            "encode_kwargs": {"prompt_name": "passage", "normalize_embeddings": True},
            "query_encode_kwargs": {"prompt_name": "query", "normalize_embeddings": True},
        },
    ),
    ("model prompts, no prompt_name", {"model_kwargs": {"prompts": PROMPTS}}),  # peer: no prompt
    ("default_prompt_name", {"model_kwargs": {"prompts": PROMPTS, "default_prompt_name": "search"}}),
    ("truncate_dim", {"encode_kwargs": {"truncate_dim": 128}}),
    ("truncate_dim normalized", {"encode_kwargs": {"truncate_dim": 128, "normalize_embeddings": True}}),
    ("batch_size, show_progress", {"encode_kwargs": {"batch_size": 2}, "show_progress": False}),
]


def _pair(model: str, kwargs: dict[str, Any]) -> tuple[Any, HuggingFaceEmbeddings]:
    kwargs = {**kwargs, "model_kwargs": {"device": "cpu", **kwargs.get("model_kwargs", {})}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = langchain_huggingface.HuggingFaceEmbeddings(model_name=model, **kwargs)
    return peer, HuggingFaceEmbeddings(model_name=model, **kwargs)


@pytest.mark.parametrize(("case", "kwargs"), LOCAL_CASES, ids=[case for case, _ in LOCAL_CASES])
def test_local_dropin_gives_the_peers_vectors(
    unnormalized_model: str, case: str, kwargs: dict[str, Any]
) -> None:
    peer, hfe = _pair(unnormalized_model, kwargs)
    docs_peer, docs_hfe = peer.embed_documents(TEXTS), hfe.embed_documents(TEXTS)
    query_peer, query_hfe = peer.embed_query(QUERY), hfe.embed_query(QUERY)
    assert np.asarray(docs_hfe).shape == np.asarray(docs_peer).shape
    assert _max_diff(docs_hfe, docs_peer) < TOLERANCE, case
    assert _max_diff(query_hfe, query_peer) < TOLERANCE, case
    # The cases differ for real: without the peer's defaults hfe would give other vectors.
    plain = HFEmbeddings(model=unnormalized_model, device="cpu")
    if case == "defaults":
        assert not np.allclose(_norms(docs_hfe), 1.0, atol=1e-3)  # the peer does not normalize
        assert _max_diff(plain.embed_documents(TEXTS), docs_hfe) > 1e-2


def test_query_encode_kwargs_replace_encode_kwargs_for_queries(unnormalized_model: str) -> None:
    # The peer normalizes documents here but not queries (query_encode_kwargs wins, wholly).
    _, hfe = _pair(unnormalized_model, dict(LOCAL_CASES[3][1]))
    assert np.allclose(_norms(hfe.embed_documents(TEXTS[:2])), 1.0, atol=1e-5)
    assert not np.isclose(_norms(hfe.embed_query(QUERY))[0], 1.0, atol=1e-3)


def test_local_dropin_on_the_packaged_model_id(model_path: str) -> None:
    # hfe maps the model id to the packaged copy; the peer needs the path. Same vectors.
    peer, _ = _pair(model_path, {})
    hfe = HuggingFaceEmbeddings(model_name=MODEL_ID, model_kwargs={"device": "cpu"})
    assert _max_diff(hfe.embed_documents(TEXTS), peer.embed_documents(TEXTS)) < TOLERANCE
    assert _max_diff(hfe.embed_query(QUERY), peer.embed_query(QUERY)) < TOLERANCE
    assert hfe.model_name == MODEL_ID


def test_local_dropin_async_and_empty_inputs(unnormalized_model: str) -> None:
    peer, hfe = _pair(unnormalized_model, {"encode_kwargs": {"prompt": "passage: "}})
    assert _max_diff(asyncio.run(hfe.aembed_documents(TEXTS)), peer.embed_documents(TEXTS)) < TOLERANCE
    assert _max_diff(asyncio.run(hfe.aembed_query(QUERY)), peer.embed_query(QUERY)) < TOLERANCE
    assert _max_diff(hfe.embed_documents(["", "x"]), peer.embed_documents(["", "x"])) < TOLERANCE
    assert hfe.embed_documents([]) == []


def test_the_peers_docstring_snippet_runs_after_the_import_swap(model_path: str) -> None:
    """langchain-huggingface's own example, with only the import line changed (and the model id,
    since the sandbox has only the packaged model, not all-mpnet-base-v2)."""
    doc = langchain_huggingface.HuggingFaceEmbeddings.__doc__ or ""
    snippet = re.search(r"```python\n(.*?)```", doc, re.S)
    assert snippet is not None
    code = snippet.group(1).replace("from langchain_huggingface import", "from langchain_hfe import")
    code = code.replace("sentence-transformers/all-mpnet-base-v2", MODEL_ID)
    code = "\n".join(line[8:] if line.startswith(" " * 8) else line for line in code.splitlines())
    namespace: dict[str, Any] = {}
    exec(compile(code, "<langchain-huggingface docstring>", "exec"), namespace)  # noqa: S102
    hf = namespace["hf"]
    assert type(hf) is HuggingFaceEmbeddings
    peer, _ = _pair(model_path, {"encode_kwargs": {"normalize_embeddings": False}})
    assert _max_diff(hf.embed_documents(TEXTS), peer.embed_documents(TEXTS)) < TOLERANCE


def test_local_dropin_keeps_the_peers_default_model() -> None:
    peer_default = langchain_huggingface.HuggingFaceEmbeddings.model_fields["model_name"].default
    assert HuggingFaceEmbeddings().model == peer_default == "sentence-transformers/all-mpnet-base-v2"


def test_local_dropin_pickles_with_its_peer_behaviour(unnormalized_model: str) -> None:
    _, hfe = _pair(
        unnormalized_model,
        {"query_encode_kwargs": {"normalize_embeddings": True}, "model_kwargs": {"token": SECRET}},
    )
    data = pickle.dumps(hfe)
    assert SECRET.encode() not in data
    loaded = pickle.loads(data)  # noqa: S301 - our own pickle
    assert isinstance(loaded.embedder, PeerEmbedder)
    assert _max_diff(loaded.embed_query(QUERY), hfe.embed_query(QUERY)) < TOLERANCE
    assert _max_diff(loaded.embed_documents(TEXTS[:2]), hfe.embed_documents(TEXTS[:2])) < TOLERANCE


# --- tei mode: HuggingFaceEndpointEmbeddings(model=URL) --------------------------------------------------

API_KEY = "sk-dropin-tei-key-0123456789"


@pytest.fixture(scope="module")
def tei() -> Iterator[TEIServer]:
    """A TEI 1.9 server with the real packaged model, behind an API key."""
    with TEIServer(api_key=API_KEY) as server:
        yield server


def _server_vectors(server: TEIServer, texts: list[str]) -> np.ndarray:
    """What the server answers to the peer's request: POST /embed {"inputs": texts}, no options."""
    response = httpx.post(
        f"{server.url}/embed",
        json={"inputs": [text.replace("\n", " ") for text in texts]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    response.raise_for_status()
    return np.asarray(response.json(), dtype=np.float32)


def test_endpoint_dropin_takes_a_url_and_gives_the_servers_vectors(tei: TEIServer, model_path: str) -> None:
    hf = HuggingFaceEndpointEmbeddings(model=tei.url, huggingfacehub_api_token=API_KEY)
    assert hf.mode == "tei"
    assert hf.url == tei.url
    docs = hf.embed_documents(TEXTS)
    assert _max_diff(docs, _server_vectors(tei, TEXTS)) < TOLERANCE
    # The peer embeds queries as documents: the server's vector for the query text, no prompt.
    assert _max_diff(hf.embed_query(QUERY), _server_vectors(tei, [QUERY])[0]) < TOLERANCE
    assert _max_diff(asyncio.run(hf.aembed_documents(TEXTS)), docs) < TOLERANCE
    # And local mode's vectors (the server computes GELU as TEI does: cosine, not 1e-5).
    local = HuggingFaceEmbeddings(model_name=model_path, encode_kwargs={"normalize_embeddings": True})
    for a, b in zip(local.embed_documents(TEXTS), docs, strict=True):
        assert cosine(a, b) >= 0.9999


def test_endpoint_dropin_model_kwargs_map_to_the_servers_options(tei: TEIServer) -> None:
    hf = HuggingFaceEndpointEmbeddings(
        model=tei.url, huggingfacehub_api_token=API_KEY, model_kwargs={"normalize": False, "dimensions": 64}
    )
    got = np.asarray(hf.embed_documents(TEXTS[:2]))
    response = httpx.post(
        f"{tei.url}/embed",
        json={"inputs": TEXTS[:1] + [TEXTS[1].replace("\n", " ")], "normalize": False, "dimensions": 64},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    assert got.shape == (2, 64)
    assert _max_diff(got, response.json()) < TOLERANCE


def test_the_peers_endpoint_snippet_runs_after_the_import_swap(tei: TEIServer) -> None:
    """langchain-huggingface's HuggingFaceEndpointEmbeddings example, import line changed: accepted,
    token hidden; then the same call with a TEI server's URL as model, which the peer refuses."""
    doc = langchain_huggingface.HuggingFaceEndpointEmbeddings.__doc__ or ""
    snippet = re.search(r"```python\n(.*?)```", doc, re.S)
    assert snippet is not None
    code = snippet.group(1).replace("from langchain_huggingface import", "from langchain_hfe import")
    code = "\n".join(line[8:] if line.startswith(" " * 8) else line for line in code.splitlines())
    namespace: dict[str, Any] = {}
    exec(compile(code, "<langchain-huggingface docstring>", "exec"), namespace)  # noqa: S102
    hf = namespace["hf"]
    assert type(hf) is HuggingFaceEndpointEmbeddings
    assert (hf.mode, hf.provider, hf.repo_id) == ("endpoint", "auto", namespace["model"])
    assert hf.token is not None and hf.token.get_secret_value() == "my-api-key"
    assert "my-api-key" not in repr(hf) + hf.model_dump_json()
    with pytest.raises(ValueError, match="not a URL"):
        langchain_huggingface.HuggingFaceEndpointEmbeddings(model=tei.url, task="feature-extraction")
    served = HuggingFaceEndpointEmbeddings(
        model=tei.url, task="feature-extraction", huggingfacehub_api_token=API_KEY
    )
    assert _max_diff(served.embed_query(QUERY), _server_vectors(tei, [QUERY])[0]) < TOLERANCE


def test_endpoint_dropin_sends_what_the_peer_sends(hostile: HostileServer) -> None:
    # An E5 model: hfe's own default would put "query: " / "passage: " before the texts; the peer does not.
    hostile.info["model_id"] = "intfloat/e5-small-v2"
    hf = HuggingFaceEndpointEmbeddings(model=hostile.url)
    hf.embed_documents(["a\nb", "c"])
    hf.embed_query("where\nis it")
    bodies = [request.json for request in hostile.sent("/embed")]
    assert bodies[0]["inputs"] == ["a b", "c"]  # newlines replaced, as the peer does
    assert bodies[1]["inputs"] == ["where is it"]  # no query prompt
    assert all("prompt_name" not in body and body["normalize"] is True for body in bodies)


def test_endpoint_dropin_keeps_the_token_out_of_every_serialization(tei: TEIServer) -> None:
    hf = HuggingFaceEndpointEmbeddings(model=tei.url, huggingfacehub_api_token=API_KEY)
    texts = [repr(hf), str(hf), hf.model_dump_json(), json.dumps(hf.model_dump()), repr(hf.embedder)]
    assert all(API_KEY not in text for text in texts)
    data = pickle.dumps(hf)
    assert API_KEY.encode() not in data
    loaded = pickle.loads(data)  # noqa: S301 - our own pickle
    assert isinstance(loaded.embedder, PeerEmbedder)
    assert loaded.token is None  # never pickled; TEI_API_KEY / HF_TOKEN would be read again


# --- refused peer arguments and unknown keywords: typed, name the fix, never a secret --------------------


def _assert_clean(error: BaseException) -> None:
    texts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    link = error.__cause__ or error.__context__
    while link is not None:
        texts.append(f"{link!s} {link!r}")
        link = link.__cause__ or link.__context__
    assert all(SECRET not in text for text in texts)


REFUSED_LOCAL: list[tuple[dict[str, Any], str]] = [
    ({"multi_process": True}, "one TEI server per GPU"),
    ({"encode_kwargs": {"precision": "int8"}}, "float32"),
    ({"encode_kwargs": {"output_value": "token_embeddings"}}, "sentence embeddings only"),
    ({"encode_kwargs": {"convert_to_numpy": False}}, "remove it"),
    ({"encode_kwargs": {"chunk_size": 8}}, "translates only"),
    ({"encode_kwargs": {"normalize_embeddings": SECRET}}, "True or False"),
    ({"encode_kwargs": {"truncate_dim": 64}, "query_encode_kwargs": {"prompt": "q"}}, "same truncate_dim"),
    ({"normalize": True, "encode_kwargs": {"normalize_embeddings": False}}, "pass only one"),
    ({"mode": "tei"}, "HuggingFaceEndpointEmbeddings(model=URL)"),
    ({"url": "http://localhost:8080"}, "HuggingFaceEndpointEmbeddings(model=URL)"),
    ({"base_url": "http://localhost:8080"}, "HuggingFaceEndpointEmbeddings(model=URL)"),
    ({"model_kwargs": {"token": SECRET}, "token": "hf_other"}, "as token="),
    ({"modle_name": SECRET}, "did you mean `model_name`"),
    ({"encode_kwargs": SECRET}, "must be a dict"),
]


@pytest.mark.parametrize(("kwargs", "fix"), REFUSED_LOCAL, ids=[str(sorted(k)) for k, _ in REFUSED_LOCAL])
def test_local_dropin_refuses_what_it_cannot_honour(kwargs: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        HuggingFaceEmbeddings(model_name=MODEL_ID, **kwargs)
    assert isinstance(info.value, HfeError) and isinstance(info.value, ValueError)
    assert fix in str(info.value)
    _assert_clean(info.value)


REFUSED_ENDPOINT: list[tuple[dict[str, Any], str]] = [
    ({"task": "text-generation"}, "feature-extraction"),
    ({"model_kwargs": {"prompt_name": "query"}}, "query_prompt="),
    ({"model_kwargs": {"model": "other/model"}}, "as model="),
    ({"model_kwargs": {"temperature": 0.5}}, "hfe maps normalize"),
    ({"model_kwargs": {"truncation_direction": "middle"}}, "'left' or 'right'"),
    ({"client": object()}, "Remove it"),
    ({"provider": "nebius"}, "Remove provider="),
    ({"mode": "local"}, "HuggingFaceEmbeddings"),
    ({"repo_id": "other/model"}, "Pass only one"),
    ({"huggingfacehub_api_token": SECRET, "token": "hf_other"}, "Pass only one"),
    ({"huggingfacehub_api_tokn": SECRET}, "did you mean `huggingfacehub_api_token`"),
]


@pytest.mark.parametrize(
    ("kwargs", "fix"), REFUSED_ENDPOINT, ids=[str(sorted(k)) for k, _ in REFUSED_ENDPOINT]
)
def test_endpoint_dropin_refuses_what_it_cannot_honour(kwargs: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        HuggingFaceEndpointEmbeddings(model="http://localhost:8080", **kwargs)
    assert isinstance(info.value, HfeError) and isinstance(info.value, ValueError)
    assert fix in str(info.value)
    _assert_clean(info.value)


@pytest.mark.parametrize(
    ("model_kwargs", "expected"),
    [
        ({"truncate": False}, {"truncation": "error"}),
        ({"truncate": True, "truncation_direction": "Left"}, {"truncation": "truncate_left"}),
        ({"truncation_direction": "left"}, {"truncation": "truncate_left"}),
        ({"normalize": False}, {"normalize": False}),
        ({"dimensions": 128, "encoding_format": "float"}, {"dimensions": 128}),
        ({}, {"truncation": "truncate", "normalize": True, "query_prompt": "", "document_prompt": ""}),
    ],
)
def test_endpoint_dropin_translates_request_model_kwargs(
    model_kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    hf = HuggingFaceEndpointEmbeddings(model="http://localhost:8080", model_kwargs=model_kwargs)
    assert {name: getattr(hf, name) for name in expected} == expected
    assert hf.model_kwargs == {}


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("http://localhost:8080", "tei"),
        ("https://abc.us-east-1.aws.endpoints.huggingface.cloud", "endpoint"),
        ("BAAI/bge-small-en-v1.5", "endpoint"),
    ],
)
def test_endpoint_dropin_never_runs_locally(model: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_MODE", "local")  # the class fixes the mode: the environment cannot make it local
    hf = HuggingFaceEndpointEmbeddings(model=model)
    assert hf.mode == mode
    assert HuggingFaceEndpointEmbeddings(repo_id=model).mode == mode


def test_local_dropin_moves_a_token_out_of_model_kwargs() -> None:
    hf = HuggingFaceEmbeddings(model_name=MODEL_ID, model_kwargs={"token": SECRET, "revision": "main"})
    assert hf.token is not None and hf.token.get_secret_value() == SECRET
    assert hf.revision == "main" and hf.model_kwargs == {}
    assert all(SECRET not in text for text in (repr(hf), hf.model_dump_json(), str(hf.settings_dict())))
    assert SECRET.encode() not in pickle.dumps(hf)


def test_translated_peer_arguments_cannot_be_changed_afterwards() -> None:
    hf = HuggingFaceEmbeddings(model_name=MODEL_ID)
    with pytest.raises(ConfigurationError, match="create a new HuggingFaceEmbeddings"):
        hf.encode_kwargs = {"normalize_embeddings": True}
    hf.batch_size = 8  # hfe settings may change, as on HFEmbeddings
    assert hf.embedder.settings.batch_size == 8
    assert isinstance(hf.embedder, PeerEmbedder)


@pytest.mark.parametrize("cls", [HuggingFaceEmbeddings, HuggingFaceEndpointEmbeddings])
def test_model_validate_translates_like_the_constructor(cls: Any) -> None:
    kwargs = (
        {"model_name": MODEL_ID, "encode_kwargs": {"prompt": "passage: "}}
        if cls is HuggingFaceEmbeddings
        else {"model": "http://localhost:8080", "model_kwargs": {"truncate": False}}
    )
    built = cls(**kwargs)
    for validated in (cls.model_validate(kwargs), cls.model_validate_json(json.dumps(kwargs))):
        assert validated.settings_dict() == built.settings_dict()
        assert isinstance(validated.embedder, PeerEmbedder)
        assert validated.embedder.options == built.embedder.options
