"""mem0 / embedchain / hfe configurations read as hfe settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hfe_core
from hfe_core.compat import MEM0_DEFAULT_MODEL, settings_from_config
from hfe_core.config import EmbedderSettings
from hfe_core.errors import ConfigurationError

MEM0 = {
    "provider": "huggingface",
    "config": {
        "model": "BAAI/bge-small-en-v1.5",
        "api_key": "hf_mem0_key",
        "embedding_dims": 384,
        "model_kwargs": {"trust_remote_code": True},
        "http_client_proxies": {"https://": "http://proxy:3128"},
    },
}

EMBEDCHAIN_APP = {
    "app": {"config": {"name": "my-app"}},
    "llm": {"provider": "openai", "config": {"model": "gpt-4o-mini"}},
    "vectordb": {"provider": "chroma", "config": {"dir": "db"}},
    "embedder": {
        "provider": "huggingface",
        "config": {"model": "sentence-transformers/all-MiniLM-L6-v2", "vector_dimension": 384},
    },
}


def test_mem0_shape() -> None:
    assert settings_from_config(MEM0) == {
        "model": "BAAI/bge-small-en-v1.5",
        "token": "hf_mem0_key",
        "expected_dimension": 384,
        "model_kwargs": {"trust_remote_code": True},
        "proxies": {"https://": "http://proxy:3128"},
    }


def test_mem0_settings_are_valid_settings() -> None:
    s = EmbedderSettings(**settings_from_config(MEM0))
    assert s.mode == "local"
    assert s.model == "BAAI/bge-small-en-v1.5"
    assert s.expected_dimension == 384
    assert s.token is not None and s.token.get_secret_value() == "hf_mem0_key"
    assert s.token_source == "argument"


def test_embedchain_app_shape() -> None:
    assert settings_from_config(EMBEDCHAIN_APP) == {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "expected_dimension": 384,
    }


def test_whole_mem0_config_with_embedder_section() -> None:
    whole = {"vector_store": {"provider": "qdrant", "config": {}}, "embedder": MEM0}
    assert settings_from_config(whole) == settings_from_config(MEM0)


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "app:\n"
        "  config:\n"
        "    name: demo\n"
        "embedder:\n"
        "  provider: huggingface\n"
        "  config:\n"
        "    model: BAAI/bge-base-en-v1.5\n"
        "    vector_dimension: 768\n"
        "    endpoint: https://abc.us-east-1.aws.endpoints.huggingface.cloud\n",
        encoding="utf-8",
    )
    expected = {
        "model": "BAAI/bge-base-en-v1.5",
        "expected_dimension": 768,
        "mode": "endpoint",
        "url": "https://abc.us-east-1.aws.endpoints.huggingface.cloud",
    }
    assert settings_from_config(path) == expected
    assert settings_from_config(str(path)) == expected


def test_yml_suffix(tmp_path: Path) -> None:
    path = tmp_path / "config.YML"
    path.write_text("provider: huggingface\nconfig:\n  model: m\n", encoding="utf-8")
    assert settings_from_config(path) == {"model": "m"}


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps({"embedder": MEM0}), encoding="utf-8")
    assert settings_from_config(path) == settings_from_config(MEM0)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read"):
        settings_from_config(tmp_path / "missing.yaml")
    toml = tmp_path / "config.toml"
    toml.write_text("[embedder]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\.yaml"):
        settings_from_config(toml)
    listing = tmp_path / "list.yaml"
    listing.write_text("- provider: huggingface\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="mapping"):
        settings_from_config(listing)


def test_hfe_provider_takes_native_keys() -> None:
    config = {
        "provider": "hfe",
        "config": {
            "model": "intfloat/e5-small-v2",
            "batch_size": 8,
            "truncation": "chunk",
            "query_prompt": "",
        },
    }
    out = settings_from_config(config)
    assert out == {
        "model": "intfloat/e5-small-v2",
        "batch_size": 8,
        "truncation": "chunk",
        "query_prompt": "",
    }
    s = EmbedderSettings(**out)
    assert (s.batch_size, s.truncation, s.query_prompt) == (8, "chunk", "")


def test_hfe_provider_accepts_aliases() -> None:
    out = settings_from_config({"provider": "hfe", "config": {"model_name": "m", "api_key": "hf_x"}})
    assert out == {"model_name": "m", "api_key": "hf_x"}


def test_hfe_provider_unknown_key() -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_from_config({"provider": "hfe", "config": {"model": "m", "embedding_dims": 384, "temp": 1}})
    assert "embedding_dims" in str(info.value)
    assert "temp" in str(info.value)


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ({"model": "m", "api_key": "hf_k"}, {"model": "m", "token": "hf_k"}),
        ({"model": "m", "embedding_dims": 768}, {"model": "m", "expected_dimension": 768}),
        ({"model": "m", "vector_dimension": "768"}, {"model": "m", "expected_dimension": 768}),
        (
            {"model": "m", "embedding_dims": 768, "vector_dimension": 768},
            {"model": "m", "expected_dimension": 768},
        ),
        (
            {"model": "m", "huggingface_base_url": "http://tei:8080"},
            {"model": "m", "mode": "tei", "url": "http://tei:8080"},
        ),
        (
            {"endpoint": "https://x.endpoints.huggingface.cloud"},
            {"mode": "endpoint", "url": "https://x.endpoints.huggingface.cloud"},
        ),
        (
            {"model": "m", "http_client_proxies": "http://proxy:1"},
            {"model": "m", "proxies": {"all://": "http://proxy:1"}},
        ),
        (
            {"model": "m", "model_kwargs": {"device": "cpu"}},
            {"model": "m", "model_kwargs": {"device": "cpu"}},
        ),
        ({"model": "m", "api_base": "x", "deployment_name": "y"}, {"model": "m"}),
        ({"model": "m", "huggingface_base_url": None, "api_key": None}, {"model": "m"}),
    ],
)
def test_key_mapping(inner: dict[str, object], expected: dict[str, object]) -> None:
    assert settings_from_config({"provider": "huggingface", "config": inner}) == expected


def test_model_kwargs_are_copied() -> None:
    kwargs = {"trust_remote_code": True}
    out = settings_from_config({"provider": "huggingface", "config": {"model": "m", "model_kwargs": kwargs}})
    out["model_kwargs"]["trust_remote_code"] = False
    assert kwargs == {"trust_remote_code": True}


@pytest.mark.parametrize("config", [{"provider": "huggingface"}, {"provider": "huggingface", "config": {}}])
def test_mem0_default_model_when_absent(config: dict[str, object]) -> None:
    # mem0 falls back to "multi-qa-MiniLM-L6-cos-v1", which sentence-transformers resolves to the
    # sentence-transformers/ namespace; either spelling names the same model.
    assert MEM0_DEFAULT_MODEL in (
        "multi-qa-MiniLM-L6-cos-v1",
        "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
    )
    assert settings_from_config(config) == {"model": MEM0_DEFAULT_MODEL}


def test_no_default_model_for_a_server() -> None:
    out = settings_from_config({"provider": "huggingface", "config": {"huggingface_base_url": "http://tei"}})
    assert "model" not in out


@pytest.mark.parametrize("key", ["huggingface_base_url", "endpoint"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_server_url(key: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_from_config({"provider": "huggingface", "config": {key: value}})
    assert key in str(info.value)


def test_both_server_keys() -> None:
    config = {
        "provider": "huggingface",
        "config": {"huggingface_base_url": "http://a", "endpoint": "http://b"},
    }
    with pytest.raises(ConfigurationError, match="not both"):
        settings_from_config(config)


def test_disagreeing_dimensions() -> None:
    config = {"provider": "huggingface", "config": {"embedding_dims": 384, "vector_dimension": 768}}
    with pytest.raises(ConfigurationError, match="disagree"):
        settings_from_config(config)


def test_unknown_keys_are_named() -> None:
    config = {"provider": "huggingface", "config": {"model": "m", "openai_base_url": "x", "batch_size": 8}}
    with pytest.raises(ConfigurationError) as info:
        settings_from_config(config)
    message = str(info.value)
    assert "batch_size, openai_base_url" in message
    assert "huggingface_base_url" in message  # the known keys are listed


@pytest.mark.parametrize("provider", ["openai", "ollama", "huggingface_hub"])
def test_other_providers_are_refused(provider: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_from_config({"provider": provider, "config": {"model": "m"}})
    assert repr(provider) in str(info.value)


def test_provider_is_case_insensitive() -> None:
    assert settings_from_config({"provider": "HuggingFace", "config": {"model": "m"}}) == {"model": "m"}


@pytest.mark.parametrize("config", [{}, {"embedder": {"config": {}}}, {"llm": {"provider": "openai"}}])
def test_no_embedder(config: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="no embedder"):
        settings_from_config(config)


def test_config_section_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="mapping"):
        settings_from_config({"provider": "huggingface", "config": ["model"]})


def test_overrides_win() -> None:
    out = settings_from_config(MEM0, model="intfloat/e5-small-v2", batch_size=4, expected_dimension=None)
    assert out["model"] == "intfloat/e5-small-v2"
    assert out["batch_size"] == 4
    assert out["expected_dimension"] is None
    assert out["token"] == "hf_mem0_key"


def test_config_is_not_mutated() -> None:
    before = json.loads(json.dumps(MEM0))
    settings_from_config(MEM0, model="x")
    assert before == MEM0


# --- into an Embedder (constructing one loads nothing) -------------------------------------------------


def test_embedchain_endpoint_builds_an_endpoint_embedder_without_connecting() -> None:
    from hfe_core.backends.endpoint import DedicatedEndpointBackend

    inner = {"endpoint": "https://x.endpoints.huggingface.cloud", "api_key": "hf_embedchain_key"}
    embedder = hfe_core.from_config({"provider": "huggingface", "config": inner})
    assert embedder.settings.mode == "endpoint"
    backend = embedder.backend
    assert isinstance(backend, DedicatedEndpointBackend)
    assert backend.base_url == "https://x.endpoints.huggingface.cloud"
    assert "hf_embedchain_key" not in repr(embedder)


def test_mem0_base_url_builds_a_tei_embedder_without_connecting() -> None:
    embedder = hfe_core.from_config(
        {
            "provider": "huggingface",
            "config": {"model": "m", "huggingface_base_url": "http://localhost:8080/v1"},
        }
    )
    assert embedder.settings.mode == "tei"
    assert embedder.backend.mode == "tei"
    assert embedder.backend.base_url == "http://localhost:8080"  # type: ignore[attr-defined]


def test_from_config_builds_a_local_embedder_without_loading() -> None:
    embedder = hfe_core.from_config(EMBEDCHAIN_APP, batch_size=2)
    assert isinstance(embedder, hfe_core.Embedder)
    assert embedder.settings.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder.settings.expected_dimension == 384
    assert embedder.settings.batch_size == 2
    assert embedder.backend._handle is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"truncate": True}, {"truncation": "truncate"}),
        ({"truncate": False}, {"truncation": "error"}),
        ({"truncate": True, "truncation_direction": "Left"}, {"truncation": "truncate_left"}),
        ({"normalize": False, "dimensions": 128}, {"normalize": False, "dimensions": 128}),
    ],
)
def test_mem0_server_model_kwargs_become_settings(
    kwargs: dict[str, object], expected: dict[str, object]
) -> None:
    settings = settings_from_config(
        {
            "provider": "huggingface",
            "config": {"huggingface_base_url": "http://tei:8080/v1", "model_kwargs": kwargs},
        }
    )
    assert "model_kwargs" not in settings
    for key, value in expected.items():
        assert settings[key] == value


def test_mem0_server_model_kwargs_without_meaning_are_an_error() -> None:
    with pytest.raises(ConfigurationError, match="top_k"):
        settings_from_config(
            {
                "provider": "huggingface",
                "config": {"huggingface_base_url": "http://tei:8080", "model_kwargs": {"top_k": 3}},
            }
        )


def test_an_hfe_config_takes_the_peer_spellings_too() -> None:
    # Issue 12: the aliases hfe's adapters accept are accepted in hfe's own config section too.
    config = {"provider": "hfe", "config": {"base_url": "http://localhost:8080", "truncate_text": False}}
    settings = EmbedderSettings(**settings_from_config(config))
    assert settings.url == "http://localhost:8080" and settings.truncation == "error"
