"""The errors a notebook user meets in the first hour name the fix (issue 6).

Each test triggers one error the way a notebook does (a missing extra, a missing token, a server
that is not running, a wrong URL, an existing index of another dimension) and checks that the
message says what to do next, not only what went wrong.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub.constants
import pytest

from hfe_core import (
    AuthenticationError,
    DimensionMismatchError,
    Embedder,
    NotFoundError,
    ServerError,
    from_config,
)
from hfe_core.auth import TOKEN_ENV_VARS
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding
from tests.tei_server.harness import TEIServer

from .conftest import MODEL_ID

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]


# --- a missing extra ---------------------------------------------------------------------------------


def _without(module: str, code: str, tmp_path: Path) -> str:
    """Run ``code`` in a child Python where ``module`` cannot be imported; return its output.

    ``sys.modules[module] = None`` makes ``import module`` raise ImportError, as when the extra
    that brings it is not installed.
    """
    script = f"import sys\nsys.modules[{module!r}] = None\n" + textwrap.dedent(code)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


_CATCH = """
from hfe_core import BackendUnavailableError
try:
    {call}
except BackendUnavailableError as exc:
    assert isinstance(exc, ImportError)
    print("BackendUnavailableError:", exc)
else:
    print("no error")
"""


def test_local_mode_without_the_local_extra(tmp_path: Path) -> None:
    call = "from hfe_core import Embedder; Embedder(mode='local').embed_query('hello')"
    out = _without("sentence_transformers", _CATCH.format(call=call), tmp_path)
    assert out.startswith("BackendUnavailableError:"), out
    assert "pip install 'hfe[local]'" in out


def test_parquet_output_without_the_parquet_extra(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"text": "hello"}\n', encoding="utf-8")
    call = "from hfe_core import embed_file; embed_file('corpus.jsonl', 'vectors.parquet')"
    out = _without("pyarrow", _CATCH.format(call=call), tmp_path)
    assert out.startswith("BackendUnavailableError:"), out
    assert "pip install 'hfe[parquet]'" in out
    assert ".npy" in out  # and the way around it
    assert not (tmp_path / "vectors.parquet").exists()


def test_ray_engine_without_the_ray_extra(tmp_path: Path) -> None:
    call = "from hfe_core.ray import RayEngine; RayEngine()"
    out = _without("ray", _CATCH.format(call=call), tmp_path)
    assert out.startswith("BackendUnavailableError:"), out
    assert "pip install 'hfe[ray]'" in out


# --- a missing token -----------------------------------------------------------------------------------


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token variable and no stored login (the notebook user who never ran `hf auth login`)."""
    for name in (*TOKEN_ENV_VARS, "TEI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    token_path = tmp_path / "hf_home" / "token"
    monkeypatch.setenv("HF_HOME", str(token_path.parent))
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_path))


@pytest.mark.usefixtures("no_token")
def test_a_tei_server_with_an_api_key_and_no_key_given() -> None:
    with TEIServer(vectors="hash", api_key="sk-tei-secret") as server:
        with pytest.raises(AuthenticationError) as caught:
            Embedder(mode="tei", url=server.url).embed_query("hello")
    message = str(caught.value)
    assert caught.value.status_code == 401
    assert "api_key=" in message and "TEI_API_KEY" in message
    assert "sk-tei-secret" not in message


@pytest.mark.usefixtures("no_token")
def test_an_inference_endpoint_by_name_without_a_token() -> None:
    with pytest.raises(AuthenticationError) as caught:
        Embedder(mode="endpoint", endpoint_name="my-endpoint").embed_query("hello")
    message = str(caught.value)
    assert "my-endpoint" in message
    assert "hf auth login" in message and "HF_TOKEN" in message and "token=" in message


# --- a server that is not running --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_tei_server_that_is_not_running() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ServerError) as caught:
        Embedder(mode="tei", url=url, max_retries=0, retry_timeout=1).embed_query("hello")
    message = str(caught.value)
    assert url in message
    assert "Is the server running and reachable?" in message


def test_a_server_that_is_not_running_through_the_langchain_adapter() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    embeddings = HFEmbeddings(mode="tei", url=url, max_retries=0, retry_timeout=1)
    with pytest.raises(ServerError, match="Is the server running"):
        embeddings.embed_documents(["hello"])


# --- a wrong URL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["native", "openai"])
def test_a_wrong_path_after_the_server_url(route: str) -> None:
    with TEIServer(vectors="hash") as server:
        with pytest.raises(NotFoundError) as caught:
            Embedder(mode="tei", url=server.url + "/v2", route=route).embed_query("hello")
    message = str(caught.value)
    assert caught.value.status_code == 404
    assert server.url + "/v2" in message  # the URL that was asked
    assert "Check url=" in message and "root URL" in message  # and what to change


# --- an existing index of another dimension ----------------------------------------------------------


def _assert_names_the_fix(error: DimensionMismatchError) -> None:
    assert (error.expected, error.actual) == (768, 384)
    message = str(error)
    assert "768" in message and "384" in message
    assert "Set it to 384" in message  # the configured dimension to change
    assert "vector store with 384 dimensions" in message  # or the index to recreate


def test_expected_dimension_against_the_model() -> None:
    with pytest.raises(DimensionMismatchError) as caught:
        Embedder(model=MODEL_ID, expected_dimension=768).embed_query("hello")
    _assert_names_the_fix(caught.value)


@pytest.mark.parametrize("key", ["embedding_dims", "vector_dimension"])
def test_a_mem0_or_embedchain_config_with_another_dimension(key: str) -> None:
    config = {"provider": "huggingface", "config": {"model": MODEL_ID, key: 768}}
    with pytest.raises(DimensionMismatchError) as caught:
        from_config(config).embed_memory("I like green tea", memory_action="add")
    _assert_names_the_fix(caught.value)
    assert "embedding_dims" in str(caught.value) and "vector_dimension" in str(caught.value)


def test_the_adapters_report_the_same_dimension_mismatch() -> None:
    config = {"provider": "huggingface", "config": {"model": MODEL_ID, "embedding_dims": 768}}
    with pytest.raises(DimensionMismatchError) as caught:
        HFEmbeddings.from_config(config).embed_query("hello")
    _assert_names_the_fix(caught.value)
    with pytest.raises(DimensionMismatchError) as caught:
        HFEmbedding.from_config(config).get_text_embedding("hello")
    _assert_names_the_fix(caught.value)
