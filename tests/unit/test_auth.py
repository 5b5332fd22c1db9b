"""Token resolution order and the token never leaking out of the settings."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

import hfe_core.auth
from hfe_core.auth import TOKEN_ENV_VARS, ResolvedToken, resolve_token
from hfe_core.config import EmbedderSettings

DOCUMENTED_ORDER = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "HUGGINGFACE_ACCESS_TOKEN",
    "HUGGINGFACE_API_KEY",
)


def test_env_var_order_is_the_documented_one() -> None:
    assert TOKEN_ENV_VARS == DOCUMENTED_ORDER
    # The module docstring lists them as steps 2..6, in the same order.
    listed = re.findall(r"^\s+\d\. ([A-Z][A-Z_]+)\b", hfe_core.auth.__doc__ or "", flags=re.MULTILINE)
    assert tuple(listed) == DOCUMENTED_ORDER


# --- resolve_token with an explicit mapping --------------------------------------------------------


@pytest.mark.parametrize("first", range(len(DOCUMENTED_ORDER)))
def test_first_set_variable_in_order_wins(first: int) -> None:
    environ = {name: f"hf_{name.lower()}" for name in DOCUMENTED_ORDER[first:]}
    resolved = resolve_token(None, environ)
    expected = DOCUMENTED_ORDER[first]
    assert resolved.source == expected
    assert resolved.value is not None
    assert resolved.value.get_secret_value() == f"hf_{expected.lower()}"
    assert not resolved.explicit


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_environment_values_are_skipped(blank: str) -> None:
    resolved = resolve_token(None, {"HF_TOKEN": blank, "HUGGINGFACE_API_KEY": "hf_mem0"})
    assert resolved.source == "HUGGINGFACE_API_KEY"
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_mem0"


def test_environment_values_are_stripped() -> None:
    resolved = resolve_token(None, {"HF_TOKEN": "  hf_padded\n"})
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_padded"


@pytest.mark.parametrize("explicit", ["hf_explicit", SecretStr("hf_explicit")])
def test_explicit_beats_everything(explicit: str | SecretStr, token_file: Path) -> None:
    token_file.write_text("hf_login", encoding="utf-8")
    environ = {name: "hf_env" for name in DOCUMENTED_ORDER}
    resolved = resolve_token(explicit, environ)
    assert resolved.source == "argument"
    assert resolved.explicit
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_explicit"


@pytest.mark.parametrize("explicit", ["", SecretStr(""), "   ", SecretStr(" \n")])
def test_blank_explicit_token_falls_through_to_the_environment(explicit: str | SecretStr) -> None:
    resolved = resolve_token(explicit, {"HF_TOKEN": "hf_env"})
    assert resolved.source == "HF_TOKEN"
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_env"


def test_stored_login_is_last(token_file: Path) -> None:
    token_file.write_text("hf_login\n", encoding="utf-8")
    resolved = resolve_token(None, {})
    assert resolved.source == "login"
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_login"
    # Any environment variable beats it.
    assert resolve_token(None, {"HUGGINGFACE_API_KEY": "hf_env"}).source == "HUGGINGFACE_API_KEY"


def test_blank_stored_login_is_ignored(token_file: Path) -> None:
    token_file.write_text("  \n", encoding="utf-8")
    assert resolve_token(None, {}) == ResolvedToken(None, None)


def test_nothing_anywhere() -> None:
    resolved = resolve_token(None, {})
    assert resolved.value is None
    assert resolved.source is None
    assert not resolved.explicit


def test_stored_login_path_comes_from_huggingface_hub_constants(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    elsewhere = tmp_path / "elsewhere-token"
    elsewhere.write_text("hf_elsewhere", encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(elsewhere))
    resolved = resolve_token(None, {})
    assert resolved.value is not None and resolved.value.get_secret_value() == "hf_elsewhere"


# --- through EmbedderSettings (os.environ) -----------------------------------------------------


def test_settings_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUGGINGFACEHUB_API_TOKEN", "hf_langchain")
    monkeypatch.setenv("HUGGINGFACE_ACCESS_TOKEN", "hf_embedchain")
    s = EmbedderSettings()
    assert s.token_source == "HUGGINGFACEHUB_API_TOKEN"
    assert s.token is not None and s.token.get_secret_value() == "hf_langchain"


def test_settings_explicit_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    s = EmbedderSettings(token="hf_arg")
    assert s.token_source == "argument"
    assert isinstance(s.token, SecretStr)
    assert s.token.get_secret_value() == "hf_arg"


def test_settings_stored_login(token_file: Path) -> None:
    token_file.write_text("hf_stored", encoding="utf-8")
    s = EmbedderSettings()
    assert s.token_source == "login"
    assert s.token is not None and s.token.get_secret_value() == "hf_stored"


# --- the token never leaks ------------------------------------------------------------------------

SECRET = "hf_SuperSecretValue1234567890"


def _renderings(s: EmbedderSettings) -> dict[str, str]:
    return {
        "repr": repr(s),
        "str": str(s),
        "format": f"{s}",
        "model_dump": repr(s.model_dump()),
        "model_dump_json": s.model_dump_json(),
        "settings_dict": repr(s.settings_dict()),
        "pickle": pickle.dumps(s).decode("latin-1"),
    }


@pytest.mark.parametrize("how", ["argument", "api_key", "env", "login"])
def test_token_never_appears(how: str, monkeypatch: pytest.MonkeyPatch, token_file: Path) -> None:
    if how == "argument":
        s = EmbedderSettings(token=SECRET)
    elif how == "api_key":
        s = EmbedderSettings(api_key=SECRET)
    elif how == "env":
        monkeypatch.setenv("HF_TOKEN", SECRET)
        s = EmbedderSettings()
    else:
        token_file.write_text(SECRET, encoding="utf-8")
        s = EmbedderSettings()
    assert s.token is not None and s.token.get_secret_value() == SECRET  # it is there...
    for where, text in _renderings(s).items():  # ...but never shown
        assert SECRET not in text, where
        assert "SuperSecret" not in text, where
    assert "token" not in s.model_dump()
    assert "token" not in s.settings_dict()


def test_pickle_round_trip_resolves_the_token_again_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUGGINGFACE_API_KEY", "hf_env_side")
    s = EmbedderSettings(token=SECRET, batch_size=5, model="BAAI/bge-small-en-v1.5")
    data = pickle.dumps(s)
    assert SECRET.encode() not in data
    restored = pickle.loads(data)  # noqa: S301 - our own bytes
    assert restored.batch_size == 5
    assert restored.model == "BAAI/bge-small-en-v1.5"
    # The explicit token was not pickled; the environment's is resolved instead.
    assert restored.token is not None and restored.token.get_secret_value() == "hf_env_side"
    assert restored.token_source == "HUGGINGFACE_API_KEY"
    # The original is untouched by pickling.
    assert s.token is not None and s.token.get_secret_value() == SECRET
    assert s.token_source == "argument"


def test_pickle_round_trip_without_any_token_source() -> None:
    s = EmbedderSettings(token=SECRET)
    restored = pickle.loads(pickle.dumps(s))  # noqa: S301 - our own bytes
    assert restored.token is None
    assert restored.token_source is None


def test_pickle_round_trip_picks_up_the_stored_login(token_file: Path) -> None:
    s = EmbedderSettings(token=SECRET)
    data = pickle.dumps(s)
    token_file.write_text("hf_login_later", encoding="utf-8")
    restored = pickle.loads(data)  # noqa: S301 - our own bytes
    assert restored.token is not None and restored.token.get_secret_value() == "hf_login_later"
    assert restored.token_source == "login"


# --- tei mode: TEI_API_KEY, and HF tokens only for Hugging Face hosts ------------------------------


def test_tei_api_key_comes_first_in_tei_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from hfe_core import EmbedderSettings

    monkeypatch.setenv("HF_TOKEN", "hf_user_token")
    monkeypatch.setenv("TEI_API_KEY", "tei-key")
    tei = EmbedderSettings(mode="tei", url="http://127.0.0.1:8080")
    assert tei.token is not None and tei.token.get_secret_value() == "tei-key"
    assert tei.token_source == "TEI_API_KEY"
    local = EmbedderSettings()
    assert local.token is not None and local.token.get_secret_value() == "hf_user_token"


@pytest.mark.parametrize(
    ("source", "url", "sent"),
    [
        ("argument", "http://127.0.0.1:8080", True),
        ("TEI_API_KEY", "http://tei.internal:8080", True),
        ("HF_TOKEN", "http://tei.internal:8080", False),
        ("login", "http://127.0.0.1:8080", False),
        ("HF_TOKEN", "https://abc.us-east-1.aws.endpoints.huggingface.cloud", True),
        ("HUGGINGFACEHUB_API_TOKEN", "https://router.huggingface.co/hf-inference", True),
        ("HF_TOKEN", "https://huggingface.co.evil.example", False),
        ("HF_TOKEN", "https://nothuggingface.co", False),
    ],
)
def test_hf_tokens_from_the_environment_only_go_to_hugging_face_hosts(
    source: str, url: str, sent: bool
) -> None:
    from pydantic import SecretStr

    from hfe_core.auth import token_for_url

    token = token_for_url(SecretStr("hf_secret"), source, url)
    assert (token == "hf_secret") is sent
    assert token_for_url(None, "argument", url) is None
