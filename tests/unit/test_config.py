"""The settings chain: constructor argument > environment > default, and its validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hfe_core.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LOCAL_MODEL,
    ENV_VARS,
    EmbedderSettings,
    resolve_settings,
)
from hfe_core.errors import ConfigurationError

# --- defaults -------------------------------------------------------------------------------


def test_defaults_with_empty_environment() -> None:
    s = EmbedderSettings()
    assert s.mode == "local"
    assert s.model == DEFAULT_LOCAL_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    assert s.batch_size == DEFAULT_BATCH_SIZE == 32
    assert s.truncation == "truncate"
    assert s.show_progress is False
    assert s.device is None
    assert s.url is None
    assert s.normalize is True
    assert s.dimensions is None
    assert s.token is None
    assert s.token_source is None
    assert s.model_kwargs == {}
    assert s.encode_kwargs == {}


def test_env_vars_table_covers_every_documented_variable() -> None:
    assert ENV_VARS == {
        "mode": "HFE_MODE",
        "model": "HFE_MODEL",
        "url": "HFE_URL",
        "device": "HFE_DEVICE",
        "batch_size": "HFE_BATCH_SIZE",
        "truncation": "HFE_TRUNCATION",
        "show_progress": "HFE_SHOW_PROGRESS",
        "route": "HFE_ROUTE",
        "timeout": "HFE_TIMEOUT",
        "max_concurrency": "HFE_MAX_CONCURRENCY",
        "max_input_length": "HFE_MAX_INPUT_LENGTH",
    }


# --- environment beats default, argument beats environment -----------------------------------

# (field, env var, env value, resolved env value, constructor value)
PRECEDENCE_CASES = [
    ("model", "HFE_MODEL", "BAAI/bge-small-en-v1.5", "BAAI/bge-small-en-v1.5", "intfloat/e5-small-v2"),
    ("batch_size", "HFE_BATCH_SIZE", "7", 7, 3),
    ("max_input_length", "HFE_MAX_INPUT_LENGTH", "512", 512, 8192),
    ("truncation", "HFE_TRUNCATION", "chunk", "chunk", "error"),
    ("device", "HFE_DEVICE", "cuda:1", "cuda:1", "cpu"),
    ("show_progress", "HFE_SHOW_PROGRESS", "true", True, False),
    ("mode", "HFE_MODE", "tei", "tei", "local"),
    ("url", "HFE_URL", "http://env-host:8080", "http://env-host:8080", "http://arg-host:8080"),
    ("route", "HFE_ROUTE", "openai", "openai", "native"),
    ("timeout", "HFE_TIMEOUT", "2.5", 2.5, 30.0),
    ("max_concurrency", "HFE_MAX_CONCURRENCY", "3", 3, 16),
]


@pytest.mark.parametrize(
    ("var", "raw"),
    [("HFE_ROUTE", "grpc"), ("HFE_TIMEOUT", "soon"), ("HFE_TIMEOUT", "-1"), ("HFE_MAX_CONCURRENCY", "0")],
)
def test_invalid_remote_settings_in_the_environment_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str
) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ConfigurationError, match=var):
        EmbedderSettings()


def test_remote_defaults() -> None:
    settings = EmbedderSettings()
    assert (settings.route, settings.timeout, settings.max_concurrency) == ("native", 60.0, 8)
    assert (settings.max_retries, settings.retry_timeout) == (5, 120.0)


@pytest.mark.parametrize(("field", "var", "raw", "from_env", "arg"), PRECEDENCE_CASES)
def test_environment_beats_default(
    monkeypatch: pytest.MonkeyPatch, field: str, var: str, raw: str, from_env: object, arg: object
) -> None:
    monkeypatch.setenv(var, raw)
    assert getattr(EmbedderSettings(), field) == from_env


@pytest.mark.parametrize(("field", "var", "raw", "from_env", "arg"), PRECEDENCE_CASES)
def test_argument_beats_environment(
    monkeypatch: pytest.MonkeyPatch, field: str, var: str, raw: str, from_env: object, arg: object
) -> None:
    monkeypatch.setenv(var, raw)
    assert arg != from_env
    assert getattr(EmbedderSettings(**{field: arg}), field) == arg


def test_false_argument_is_not_mistaken_for_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_SHOW_PROGRESS", "1")
    assert EmbedderSettings(show_progress=False).show_progress is False
    assert EmbedderSettings().show_progress is True


def test_argument_wins_even_when_the_environment_value_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_BATCH_SIZE", "lots")
    assert EmbedderSettings(batch_size=5).batch_size == 5


def test_environment_values_are_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_BATCH_SIZE", "  12 ")
    monkeypatch.setenv("HFE_TRUNCATION", " truncate_left\n")
    s = EmbedderSettings()
    assert s.batch_size == 12
    assert s.truncation == "truncate_left"


@pytest.mark.parametrize("var", sorted(ENV_VARS.values()))
def test_blank_environment_values_count_as_unset(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "   ")
    reference = EmbedderSettings().settings_dict()
    monkeypatch.delenv(var)
    assert EmbedderSettings().settings_dict() == reference


def test_resolve_settings_reads_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_BATCH_SIZE", "9")
    s = EmbedderSettings()
    for name in ("mode", "model", "batch_size", "truncation", "show_progress", "token"):
        object.__setattr__(s, name, None)  # back to "unset"
    out = resolve_settings(s, {"HFE_BATCH_SIZE": "4", "HFE_MODEL": "m", "HF_TOKEN": "hf_from_mapping"})
    assert out is s
    assert s.batch_size == 4  # the mapping, not os.environ
    assert s.model == "m"
    assert s.token is not None and s.token.get_secret_value() == "hf_from_mapping"
    assert s.token_source == "HF_TOKEN"
    assert s.mode == "local"
    assert s.truncation == "truncate"
    assert s.show_progress is False


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "On"])
def test_show_progress_true_spellings(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HFE_SHOW_PROGRESS", raw)
    assert EmbedderSettings().show_progress is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "OFF"])
def test_show_progress_false_spellings(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HFE_SHOW_PROGRESS", raw)
    assert EmbedderSettings().show_progress is False


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("HFE_BATCH_SIZE", "abc"),
        ("HFE_BATCH_SIZE", "0"),
        ("HFE_BATCH_SIZE", "-4"),
        ("HFE_BATCH_SIZE", "2.5"),
        ("HFE_TRUNCATION", "middle"),
        ("HFE_TRUNCATION", "truncate_right"),
        ("HFE_MODE", "remote"),
        ("HFE_MODE", "openai"),
        ("HFE_SHOW_PROGRESS", "maybe"),
        ("HFE_SHOW_PROGRESS", "2"),
    ],
)
def test_invalid_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str
) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings()
    assert var in str(info.value)
    assert raw in str(info.value)


# --- mode inference --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "mode"),
    [
        ({}, "local"),
        ({"model": "BAAI/bge-small-en-v1.5"}, "local"),
        ({"url": "http://localhost:8080"}, "tei"),
        ({"url": "http://10.0.0.7:3000/"}, "tei"),
        ({"url": "https://tei.internal.example.com"}, "tei"),
        ({"url": "https://abc123.us-east-1.aws.endpoints.huggingface.cloud"}, "endpoint"),
        ({"url": "https://xyz.eu-west-1.aws.endpoints.huggingface.cloud/v1/embeddings"}, "endpoint"),
        ({"url": "https://router.huggingface.co/hf-inference/models/x"}, "endpoint"),
        ({"url": "https://huggingface.co/api/inference-proxy/x"}, "endpoint"),
        ({"endpoint_name": "my-endpoint"}, "endpoint"),
        ({"provider": "hf-inference"}, "endpoint"),
        ({"endpoint_name": "e", "url": "http://localhost:8080"}, "endpoint"),
    ],
)
def test_mode_inference(kwargs: dict[str, str], mode: str) -> None:
    assert EmbedderSettings(**kwargs).mode == mode


@pytest.mark.parametrize(
    "url",
    [
        "http://tei.nothuggingface.co:8080",  # ends with "huggingface.co" but is not under it
        "https://endpoints.huggingface.cloud.example.com",
    ],
)
def test_mode_inference_matches_whole_domain_labels(url: str) -> None:
    # Only hosts under huggingface.co / *.endpoints.huggingface.cloud are Hugging Face's.
    assert EmbedderSettings(url=url).mode == "tei"


def test_url_from_environment_infers_tei(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_URL", "http://tei:80")
    s = EmbedderSettings()
    assert s.url == "http://tei:80"
    assert s.mode == "tei"


def test_explicit_mode_is_not_overridden_by_inference() -> None:
    assert EmbedderSettings(mode="tei", endpoint_name="x").mode == "tei"


def test_default_model_only_for_local_mode() -> None:
    assert EmbedderSettings(url="http://localhost:8080").model is None
    assert EmbedderSettings(mode="endpoint", provider="p").model is None
    assert EmbedderSettings(mode="local").model == DEFAULT_LOCAL_MODEL


def test_env_model_beats_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_MODEL", "/models/custom")
    assert EmbedderSettings().model == "/models/custom"


@pytest.mark.parametrize("url", ["", "   ", "\n"])
def test_empty_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="url"):
        EmbedderSettings(url=url)


# --- encode_kwargs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("normalize_embeddings", False, "normalize"),
        ("batch_size", 17, "batch_size"),
        ("show_progress_bar", True, "show_progress"),
        ("truncate_dim", 128, "dimensions"),
    ],
)
def test_encode_kwargs_map_to_settings(key: str, value: object, field: str) -> None:
    s = EmbedderSettings(encode_kwargs={key: value})
    assert getattr(s, field) == value
    assert key not in s.encode_kwargs  # moved, not passed twice to encode()


def test_encode_kwargs_unrelated_keys_are_kept() -> None:
    s = EmbedderSettings(encode_kwargs={"chunk_size": 4, "batch_size": 8})
    assert s.encode_kwargs == {"chunk_size": 4}
    assert s.batch_size == 8


def test_encode_kwargs_do_not_mutate_the_callers_dict() -> None:
    given = {"batch_size": 8, "normalize_embeddings": False}
    EmbedderSettings(encode_kwargs=given)
    assert given == {"batch_size": 8, "normalize_embeddings": False}


def test_encode_kwargs_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_BATCH_SIZE", "8")
    monkeypatch.setenv("HFE_SHOW_PROGRESS", "0")
    s = EmbedderSettings(encode_kwargs={"batch_size": 16, "show_progress_bar": True})
    assert s.batch_size == 16
    assert s.show_progress is True


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"normalize": False, "encode_kwargs": {"normalize_embeddings": True}}, "normalize_embeddings"),
        ({"normalize": True, "encode_kwargs": {"normalize_embeddings": False}}, "normalize_embeddings"),
        ({"batch_size": 8, "encode_kwargs": {"batch_size": 16}}, "batch_size"),
        ({"show_progress": False, "encode_kwargs": {"show_progress_bar": True}}, "show_progress_bar"),
        ({"dimensions": 64, "encode_kwargs": {"truncate_dim": 128}}, "truncate_dim"),
    ],
)
def test_encode_kwargs_conflicting_with_a_setting(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(**kwargs)
    assert key in str(info.value)


def test_encode_kwargs_agreeing_with_a_setting_are_fine() -> None:
    s = EmbedderSettings(
        batch_size=8, normalize=False, encode_kwargs={"batch_size": 8, "normalize_embeddings": False}
    )
    assert s.batch_size == 8
    assert s.normalize is False
    assert s.encode_kwargs == {}


@pytest.mark.parametrize(
    "key",
    ["prompt", "prompt_name", "convert_to_numpy", "convert_to_tensor", "output_value", "precision", "device"],
)
def test_encode_kwargs_forbidden_keys(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(encode_kwargs={key: "x"})
    assert repr(key) in str(info.value)
    assert "instead" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("batch_size", -2),
        ("batch_size", "many"),
        ("truncate_dim", 0),
        ("normalize_embeddings", "sometimes"),
    ],
)
def test_encode_kwargs_values_are_validated_like_the_settings(key: str, value: object) -> None:
    # EmbedderSettings(batch_size=0) is rejected (gt=0); the same value through encode_kwargs must be too.
    with pytest.raises(ValueError, match=key):
        EmbedderSettings(encode_kwargs={key: value})


# --- model_kwargs['device'] ---------------------------------------------------------------------


def test_model_kwargs_device_is_absorbed() -> None:
    s = EmbedderSettings(model_kwargs={"device": "cpu", "trust_remote_code": True})
    assert s.device == "cpu"
    assert s.model_kwargs == {"trust_remote_code": True}


def test_model_kwargs_device_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_DEVICE", "cuda")
    assert EmbedderSettings(model_kwargs={"device": "cpu"}).device == "cpu"


def test_model_kwargs_device_conflict() -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(device="cuda", model_kwargs={"device": "cpu"})
    assert "model_kwargs['device']" in str(info.value)
    assert "'cpu'" in str(info.value) and "'cuda'" in str(info.value)


def test_model_kwargs_device_agreeing_with_device() -> None:
    s = EmbedderSettings(device="cpu", model_kwargs={"device": "cpu"})
    assert s.device == "cpu"
    assert "device" not in s.model_kwargs


def test_model_kwargs_do_not_mutate_the_callers_dict() -> None:
    given = {"device": "cpu"}
    EmbedderSettings(model_kwargs=given)
    assert given == {"device": "cpu"}


# --- aliases, extra keys, field validation ------------------------------------------------------


def test_token_and_api_key_together() -> None:
    with pytest.raises(ConfigurationError, match="api_key"):
        EmbedderSettings(token="hf_a", api_key="hf_b")
    with pytest.raises(ConfigurationError, match="api_key"):
        EmbedderSettings(token="hf_a", api_key="hf_a")


def test_api_key_is_an_alias_of_token() -> None:
    s = EmbedderSettings(api_key="hf_alias")
    assert s.token is not None and s.token.get_secret_value() == "hf_alias"
    assert s.token_source == "argument"


def test_model_name_is_an_alias_of_model() -> None:
    assert EmbedderSettings(model_name="BAAI/bge-small-en-v1.5").model == "BAAI/bge-small-en-v1.5"


def test_model_and_model_name_disagreeing() -> None:
    with pytest.raises(ConfigurationError, match="model_name"):
        EmbedderSettings(model="a/b", model_name="c/d")


def test_model_and_model_name_agreeing_are_accepted() -> None:
    # _check_aliases only rejects *different* values, so the same value twice must be accepted.
    assert EmbedderSettings(model="a/b", model_name="a/b").model == "a/b"


@pytest.mark.parametrize("key", ["modle", "normalize_embeddings", "api_base", "temperature"])
def test_extra_keys_are_rejected(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(**{key: 1})
    assert f"`{key}`" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, ValidationError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": -1},
        {"dimensions": 0},
        {"expected_dimension": -384},
        {"mode": "grpc"},
        {"truncation": "middle"},
    ],
)
def test_field_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(**kwargs)
    assert f"`{next(iter(kwargs))}`" in str(info.value)  # names the field


def test_settings_dict_lists_every_field_but_the_token() -> None:
    s = EmbedderSettings(batch_size=4, dimensions=128)
    d = s.settings_dict()
    assert set(d) == set(EmbedderSettings.model_fields) - {"token"}
    assert d["batch_size"] == 4
    assert d["dimensions"] == 128
    assert d["mode"] == "local"


def test_snapshot_is_detached_and_keeps_the_token() -> None:
    s = EmbedderSettings(token="hf_snap", model_kwargs={"trust_remote_code": True})
    snap = s.snapshot()
    assert snap is not s
    assert snap.settings_dict() == s.settings_dict()
    assert snap.token is not None and snap.token.get_secret_value() == "hf_snap"
    assert snap.token_source == "argument"
    s.model_kwargs["trust_remote_code"] = False
    assert snap.model_kwargs == {"trust_remote_code": True}
