"""Unknown or invalid settings raise ConfigurationError, which never echoes a value.

pydantic's ``ValidationError`` prints every offending value (``input_value=...``), so a token passed
under a wrong name (LangChain's ``huggingfacehub_api_token=``...) would be printed in full. Every
construction path must raise hfe's :class:`ConfigurationError` instead, naming the keyword and
what is expected, with no value in its text, its attributes, its chain or its traceback.
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from hfe_core import Embedder, EmbedderSettings
from hfe_core.errors import ConfigurationError, HfeError

SECRET = "hf_LeakCheckSecret0123456789abcdef"


def _langchain(**kwargs: Any) -> Any:
    from langchain_hfe import HFEmbeddings

    return HFEmbeddings(**kwargs)


def _llamaindex(**kwargs: Any) -> Any:
    from llamaindex_hfe import HFEmbedding

    return HFEmbedding(**kwargs)


def _llamaindex_from_dict(**kwargs: Any) -> Any:
    from llamaindex_hfe import HFEmbedding

    return HFEmbedding.from_dict(kwargs)


def _model_validate(**kwargs: Any) -> Any:
    return EmbedderSettings.model_validate(kwargs)


def _model_validate_json(**kwargs: Any) -> Any:
    import json

    return EmbedderSettings.model_validate_json(json.dumps(kwargs))


CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "EmbedderSettings": EmbedderSettings,
    "Embedder": Embedder,
    "HFEmbeddings": _langchain,
    "HFEmbedding": _llamaindex,
    "HFEmbedding.from_dict": _llamaindex_from_dict,
    "model_validate": _model_validate,
    "model_validate_json": _model_validate_json,
}

#: Token-like values under names hfe does not accept (``huggingfacehub_api_token`` and ``auth_token``
#: became aliases of ``token`` in issue 12: a wrong type under them must still not echo), and under
#: valid fields with a wrong type; the name the message must give.
BAD_KWARGS: list[tuple[dict[str, Any], str]] = [
    ({"huggingfacehub_api_token": [SECRET]}, "huggingfacehub_api_token"),
    ({"api_token": SECRET}, "api_token"),
    ({"hf_token": SECRET}, "hf_token"),
    ({"hf_api_secret": SECRET}, "hf_api_secret"),
    ({"auth_token": {"value": SECRET}}, "auth_token"),
    ({"token": [SECRET]}, "token"),
    ({"token": {"value": SECRET}}, "token"),
    ({"api_key": [SECRET]}, "api_key"),  # the name the caller used
    ({"batch_size": SECRET}, "batch_size"),
    ({"mode": SECRET}, "mode"),
    ({"normalize": SECRET}, "normalize"),
    ({"proxies": {"https://": [SECRET]}}, "proxies['https://']"),
    ({"model": "a/b", "hf_token": SECRET, "batch_size": 0}, "hf_token"),
]


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _texts(error: BaseException) -> dict[str, str]:
    """Everything a user, a logger or an error tracker could print of ``error``."""
    texts = {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "attributes": repr(vars(error)),
        "notes": repr(getattr(error, "__notes__", None)),
        "traceback": "".join(traceback.format_exception(error)),
        "pickle": pickle.dumps(error).decode("latin-1"),
    }
    for depth, link in enumerate(_chain(error)[1:], start=1):
        texts[f"chain[{depth}]"] = f"{link!s} {link!r} {link.args!r} {vars(link)!r}"
    return texts


def _assert_no_secret(error: BaseException) -> None:
    for where, text in _texts(error).items():
        assert SECRET not in text, where
        assert "LeakCheckSecret" not in text, where


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
@pytest.mark.parametrize(("kwargs", "named"), BAD_KWARGS)
def test_bad_settings_never_echo_a_value(constructor: str, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CONSTRUCTORS[constructor](**kwargs)
    error = info.value
    assert isinstance(error, HfeError)
    assert isinstance(error, ValueError)
    assert f"`{named}`" in str(error)
    _assert_no_secret(error)
    assert error.__cause__ is None
    assert error.__context__ is None  # pydantic's error, which holds the values, is not chained


@pytest.mark.parametrize("constructor", CONSTRUCTORS)
def test_errors_raised_while_resolving_do_not_chain_pydantics(constructor: str) -> None:
    """hfe's own errors from inside validation are handed on without pydantic's error as context."""
    with pytest.raises(ConfigurationError, match="url is an empty string") as info:
        CONSTRUCTORS[constructor](token=SECRET, url="")
    _assert_no_secret(info.value)
    assert info.value.__context__ is None


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("modle", "model"),
        ("bach_size", "batch_size"),
        ("normalise", "normalize"),
        ("trunction", "truncation"),
        ("dimension", "dimensions"),
        ("hf_token", "token"),
    ],
)
def test_unknown_keywords_get_the_closest_setting(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(**{name: "x"})
    assert f"unknown keyword argument `{name}` (did you mean `{suggestion}`?)" in str(info.value)


def test_a_credential_like_keyword_points_at_token() -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(hf_api_secret=SECRET)
    assert "`token=`" in str(info.value)
    assert "api_key=" in str(info.value)


def test_invalid_values_name_the_field_and_the_constraint() -> None:
    with pytest.raises(ConfigurationError) as info:
        EmbedderSettings(batch_size=0, mode="grpc", max_retries=-1)
    message = str(info.value)
    assert "`batch_size`: Input should be greater than 0" in message
    assert "`mode`: Input should be 'local', 'tei' or 'endpoint'" in message
    assert "`max_retries`: Input should be greater than or equal to 0" in message
    assert "grpc" not in message  # not even harmless values are echoed


def test_adapters_name_themselves() -> None:
    from langchain_hfe import HFEmbeddings
    from llamaindex_hfe import HFEmbedding

    for adapter in (HFEmbeddings, HFEmbedding):
        with pytest.raises(ConfigurationError, match=f"Invalid settings for {adapter.__name__}:"):
            adapter(modle="x")  # type: ignore[call-arg]


def test_llamaindex_fields_are_suggested_and_checked() -> None:
    from llamaindex_hfe import HFEmbedding

    with pytest.raises(ConfigurationError, match=r"did you mean `embed_batch_size`\?"):
        HFEmbedding(embed_batch_sise=8)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="`embed_batch_size`: Input should be greater than 0"):
        HFEmbedding(embed_batch_size=0)


def test_valid_settings_still_work() -> None:
    assert EmbedderSettings(batch_size=3, model_name="a/b").batch_size == 3
    assert EmbedderSettings.model_validate({"batch_size": 3}).batch_size == 3
    assert EmbedderSettings.model_validate_json('{"batch_size": 3}').batch_size == 3
