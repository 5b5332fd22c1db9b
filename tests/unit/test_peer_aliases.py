"""Issue 12: other libraries' keyword names on EmbedderSettings, and a URL never ends in local mode."""

from __future__ import annotations

import json
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from hfe_core import ConfigurationError, Embedder, EmbedderSettings, HfeError
from hfe_core.compat import settings_from_config
from hfe_core.config import SETTING_ALIASES, mode_for_url
from langchain_hfe import HFEmbeddings
from llamaindex_hfe import HFEmbedding

SECRET = "hf_AliasLeakCheck0123456789abcdef"
URL = "http://tei.internal:8080"

CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "EmbedderSettings": EmbedderSettings,
    "HFEmbeddings": HFEmbeddings,
    "HFEmbedding": HFEmbedding,
    "model_validate": EmbedderSettings.model_validate,
    "model_validate_json": lambda **kwargs: EmbedderSettings.model_validate_json(json.dumps(kwargs)),
}


def _construct(constructor: str, **kwargs: Any) -> Any:
    if constructor == "model_validate":
        return CONSTRUCTORS[constructor](kwargs)
    return CONSTRUCTORS[constructor](**kwargs)


def _assert_clean(error: BaseException) -> None:
    texts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    assert all(SECRET not in text for text in texts)
    assert error.__context__ is None or SECRET not in repr(error.__context__)


# --- each alias sets its setting, on the core and on both adapters -------------------------------------


ALIASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"base_url": URL}, "url", URL),
    ({"endpoint_url": URL}, "url", URL),
    ({"show_progress_bar": True}, "show_progress", True),
    ({"query_instruction": "query: "}, "query_prompt", "query: "),
    ({"text_instruction": "passage: "}, "document_prompt", "passage: "),
    ({"truncate_text": True}, "truncation", "truncate"),
    ({"truncate_text": False}, "truncation", "error"),
    ({"model_name": "a/b"}, "model", "a/b"),
]


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
@pytest.mark.parametrize(("kwargs", "field", "value"), ALIASES)
def test_each_alias_sets_its_setting(
    constructor: str, kwargs: dict[str, Any], field: str, value: Any
) -> None:
    if constructor == "HFEmbedding" and field == "model":
        pytest.skip("LlamaIndex's BaseEmbedding has its own model_name field")
    settings = _construct(constructor, **kwargs)
    assert getattr(settings, field) == value
    assert field in settings.model_fields_set or field == "truncation"


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
@pytest.mark.parametrize("name", ["huggingfacehub_api_token", "auth_token", "api_key", "token"])
def test_every_token_name_gives_a_hidden_token(constructor: str, name: str) -> None:
    settings = _construct(constructor, url=URL, **{name: SECRET})
    assert settings.token.get_secret_value() == SECRET
    assert settings.token_source == "argument"
    shown = [repr(settings), str(settings), settings.model_dump_json(), json.dumps(settings.settings_dict())]
    shown.append(json.dumps(settings.model_dump(by_alias=True), default=str))
    assert all(SECRET not in text for text in shown)
    assert SECRET.encode() not in pickle.dumps(settings)


def test_the_alias_table_is_what_the_fields_accept() -> None:
    for field, aliases in SETTING_ALIASES.items():
        alias = EmbedderSettings.model_fields[field].validation_alias
        assert alias is not None
        assert tuple(alias.choices) == (field, *aliases)  # type: ignore[union-attr]


def test_a_setting_under_its_alias_serializes_under_its_own_name() -> None:
    settings = EmbedderSettings(base_url=URL, huggingfacehub_api_token=SECRET, show_progress_bar=True)
    dumped = settings.model_dump()
    assert dumped["url"] == URL and dumped["show_progress"] is True
    assert "token" not in dumped and "base_url" not in dumped
    assert EmbedderSettings.model_validate(settings.settings_dict()).url == URL
    snapshot = settings.snapshot()
    assert snapshot.url == URL and snapshot.token is not None
    assert Embedder(settings).settings.mode == "tei"
    restored = pickle.loads(pickle.dumps(settings))  # noqa: S301 - our own pickle
    assert restored.url == URL and restored.token is None


def test_hfe_configs_and_overrides_take_aliases() -> None:
    config = {"provider": "hfe", "config": {"model": "m", "api_key": "hf_x"}}
    adapter = HFEmbeddings.from_config(config, base_url=URL, truncate_text=False)
    assert (adapter.url, adapter.mode, adapter.truncation) == (URL, "tei", "error")
    mem0 = settings_from_config({"provider": "huggingface", "config": {"huggingface_base_url": URL}})
    assert EmbedderSettings(**mem0).url == URL


# --- conflicting names ----------------------------------------------------------------------------------


CONFLICTS: list[dict[str, Any]] = [
    {"url": URL, "base_url": "http://other:8080"},
    {"base_url": URL, "endpoint_url": "http://other:8080"},
    {"token": SECRET, "huggingfacehub_api_token": SECRET},  # any two token names, even the same value
    {"auth_token": SECRET, "api_key": "hf_other"},
    {"show_progress": True, "show_progress_bar": False},
    {"query_prompt": "a", "query_instruction": "b"},
    {"document_prompt": "a", "text_instruction": "b"},
    {"truncation": "truncate_left", "truncate_text": True},
    {"truncation": "truncate", "truncate_text": False},
]


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
@pytest.mark.parametrize("kwargs", CONFLICTS, ids=[" ".join(sorted(k)) for k in CONFLICTS])
def test_two_names_of_one_setting_that_disagree_are_refused(constructor: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        _construct(constructor, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, HfeError) and isinstance(info.value, ValueError)
    assert all(f"{name}=" in message for name in kwargs)
    assert "only" in message  # "Pass only one" / "pass only truncation"
    _assert_clean(info.value)


def test_the_same_value_under_two_names_is_accepted() -> None:
    settings = EmbedderSettings(url=URL, base_url=URL, show_progress=True, show_progress_bar=True)
    assert settings.url == URL and settings.show_progress is True
    assert EmbedderSettings(url=None, base_url=URL).url == URL  # None is "not given"
    assert EmbedderSettings(truncate_text=True, truncation="truncate").truncation == "truncate"
    assert EmbedderSettings(truncate_text=None).truncation == "truncate"


@pytest.mark.parametrize("value", ["yes", 1, SECRET])
def test_truncate_text_must_be_a_bool(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="truncate_text must be True or False") as info:
        EmbedderSettings(truncate_text=value)
    _assert_clean(info.value)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("hf_token", "token"),
        ("base_ur", "base_url"),
        ("truncate_txt", "truncation"),
        ("huggingfacehub_token", "huggingfacehub_api_token"),
    ],
)
def test_unknown_keywords_still_get_a_suggestion_and_no_value(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(**{name: SECRET})
    assert f"unknown keyword argument `{name}` (did you mean `{suggestion}`?)" in str(info.value)
    _assert_clean(info.value)


# --- a URL never ends in local mode --------------------------------------------------------------------


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
@pytest.mark.parametrize(
    "server",
    [{"url": URL}, {"base_url": URL}, {"endpoint_url": URL}, {"endpoint_name": "my-endpoint"}],
    ids=["url", "base_url", "endpoint_url", "endpoint_name"],
)
def test_explicit_local_mode_with_a_server_is_refused(constructor: str, server: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="names a server, but the mode is 'local'") as info:
        _construct(constructor, mode="local", token=SECRET, **server)
    assert "mode='tei'" in str(info.value)
    _assert_clean(info.value)


@pytest.mark.parametrize("name", ["url", "base_url", "endpoint_url"])
def test_a_url_under_any_name_infers_a_server_mode(name: str) -> None:
    assert EmbedderSettings(**{name: URL}).mode == "tei"
    assert (
        EmbedderSettings(**{name: "https://x.us-east-1.aws.endpoints.huggingface.cloud"}).mode == "endpoint"
    )


def test_local_mode_from_the_environment_does_not_swallow_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFE_MODE", "local")
    with pytest.raises(ConfigurationError, match=r"\(from HFE_MODE\)"):
        EmbedderSettings(base_url=URL)
    monkeypatch.setenv("HFE_URL", URL)
    with pytest.raises(ConfigurationError, match=r"HFE_URL \(environment\)"):
        EmbedderSettings()


def test_explicit_local_mode_ignores_a_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Constructor argument > environment: HFE_URL is for server modes, not for mode='local'.
    monkeypatch.setenv("HFE_URL", URL)
    settings = EmbedderSettings(mode="local")
    assert (settings.mode, settings.url) == ("local", None)
    assert EmbedderSettings().mode == "tei"  # without mode=, HFE_URL still infers tei mode


@pytest.mark.parametrize("adapter", [HFEmbeddings, HFEmbedding])
def test_setting_a_url_on_a_local_adapter_is_refused(adapter: Any) -> None:
    obj = adapter()
    with pytest.raises(ConfigurationError, match="would leave url= in local mode"):
        obj.url = URL
    assert obj.url is None and obj.embedder.settings.mode == "local"
    remote = adapter(url=URL)
    with pytest.raises(ConfigurationError, match="would leave url= in local mode"):
        remote.mode = "local"
    remote.url = "http://other:8080"  # another server is fine
    assert remote.embedder.settings.url == "http://other:8080"


def test_mode_for_url() -> None:
    assert mode_for_url("http://localhost:8080") == "tei"
    assert mode_for_url("https://router.huggingface.co/hf-inference/models/x") == "endpoint"
    assert mode_for_url("https://huggingface.co.evil.com") == "tei"
