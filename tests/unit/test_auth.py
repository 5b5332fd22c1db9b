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


# --- the routing rule, host by host and scheme by scheme -------------------------------------------

#: (url, whether a token from the environment or the stored login may go there).
ROUTING_TABLE: list[tuple[str, bool]] = [
    # huggingface.co and its subdomains: https only
    ("https://huggingface.co", True),
    ("https://huggingface.co/api/inference/models/x", True),
    ("http://huggingface.co", False),
    ("https://api-inference.huggingface.co/models/x", True),
    ("http://api-inference.huggingface.co/models/x", False),
    ("https://router.huggingface.co/hf-inference/models/x", True),
    ("http://router.huggingface.co/hf-inference/models/x", False),
    # dedicated Inference Endpoints: https only, and only subdomains of endpoints.huggingface.cloud
    ("https://x.endpoints.huggingface.cloud", True),
    ("https://abc.us-east-1.aws.endpoints.huggingface.cloud/embed", True),
    ("http://x.endpoints.huggingface.cloud", False),
    ("https://endpoints.huggingface.cloud", False),
    ("https://x.huggingface.cloud", False),
    # Spaces run someone else's code
    ("https://x.hf.space", False),
    ("http://x.hf.space", False),
    ("https://hf.space", False),
    # look-alikes
    ("https://huggingface.co.evil.com", False),
    ("http://huggingface.co.evil.com", False),
    ("https://evilhuggingface.co", False),
    ("https://evil-huggingface.co", False),
    ("https://x.endpoints.huggingface.cloud.evil.com", False),
    ("https://evil.com/huggingface.co", False),
    ("https://evil.com?h=x.huggingface.co", False),
    ("https://evil.com#.huggingface.co", False),
    # self-hosted servers
    ("https://localhost:8080", False),
    ("http://localhost:8080", False),
    ("https://127.0.0.1:8080", False),
    ("http://127.0.0.1:8080", False),
    ("https://[::1]:8080", False),
    # case, trailing dot, IDN and other host spellings
    ("https://HUGGINGFACE.CO/x", True),
    ("HTTPS://Router.HuggingFace.Co/x", True),
    ("HTTP://HUGGINGFACE.CO/x", False),
    ("https://huggingface.co./x", True),
    ("https://x.endpoints.huggingface.cloud./embed", True),
    ("https://huggingface.co../x", False),
    ("https://.huggingface.co/x", False),
    ("https://huggingf\u0430ce.co", False),  # Cyrillic a
    ("https://\uff48\uff55\uff47\uff47\uff49\uff4e\uff47\uff46\uff41\uff43\uff45.co", False),  # fullwidth
    ("https://huggingface\u3002co", False),  # ideographic full stop
    ("https://x.hf.space\u3002huggingface.co", False),
    ("https://xn--huggingface-abc.co", False),
    ("https://evil.com%2f.huggingface.co", False),
    ("https://evil_host.huggingface.co", False),
    # user info tricks
    ("https://huggingface.co@evil.com/", False),
    ("https://huggingface.co:443@evil.com/", False),
    ("https://user:pass@huggingface.co/", False),
    ("https://evil.com\\@huggingface.co/", False),
    ("https://evil.com\\.huggingface.co/", False),
    # ports
    ("https://huggingface.co:443/x", True),
    ("https://x.endpoints.huggingface.cloud:8443", True),
    ("http://huggingface.co:443/x", False),
    ("https://huggingface.co:99999/x", False),
    ("https://huggingface.co:abc/x", False),
    # other schemes and non-URLs
    ("ftp://huggingface.co", False),
    ("wss://huggingface.co", False),
    ("//huggingface.co/x", False),
    ("huggingface.co", False),
    ("", False),
]

#: Every way hfe can come by a token: explicit ones go anywhere, the others follow the table.
EXPLICIT_SOURCES = ("argument", "TEI_API_KEY")
IMPLICIT_SOURCES = (*DOCUMENTED_ORDER, "login")


@pytest.mark.parametrize(("url", "env_allowed"), ROUTING_TABLE)
@pytest.mark.parametrize("source", [*EXPLICIT_SOURCES, *IMPLICIT_SOURCES])
def test_token_routing_table(source: str, url: str, env_allowed: bool) -> None:
    from hfe_core.auth import token_for_url

    sent = token_for_url(SecretStr("hf_routing_secret"), source, url)
    expected = source in EXPLICIT_SOURCES or env_allowed
    assert sent == ("hf_routing_secret" if expected else None), (source, url)
    assert token_for_url(None, source, url) is None


@pytest.mark.parametrize(("url", "env_allowed"), [row for row in ROUTING_TABLE if row[1]])
def test_allowed_urls_go_where_httpx_says(url: str, env_allowed: bool) -> None:
    """httpx (the client that sends the token) parses each allowed URL to a Hugging Face host."""
    import httpx

    from hfe_core.auth import is_hugging_face_host

    parsed = httpx.URL(url)
    assert parsed.scheme == "https"
    assert not parsed.userinfo
    assert is_hugging_face_host(parsed.host)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co@evil.com/", "evil.com"),
        ("https://huggingface.co:443@evil.com/", "evil.com"),
        ("https://evil.com#.huggingface.co", "evil.com"),
    ],
)
def test_user_info_tricks_go_to_the_other_host(url: str, expected: str) -> None:
    import httpx

    assert httpx.URL(url).host == expected


def test_spaces_are_not_on_the_allow_list() -> None:
    from hfe_core.auth import HF_HOST_SUFFIXES, HF_HOSTS, is_hugging_face_host

    assert HF_HOSTS == ("huggingface.co",)
    assert HF_HOST_SUFFIXES == (".huggingface.co", ".endpoints.huggingface.cloud")
    assert not is_hugging_face_host("x.hf.space")
    assert not is_hugging_face_host("hf.space")


def test_readme_states_the_allow_list() -> None:
    """The README's credentials rule names exactly the hosts of auth's allow-list, and https."""
    from hfe_core.auth import HF_HOST_SUFFIXES, HF_HOSTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    bullet = readme.split("- **Credentials.**", 1)[1].split("\n- **", 1)[0]
    rule = " ".join(bullet.split("goes only to", 1)[1].split(";", 1)[0].split())
    named = set(re.findall(r"`(\*?\.?[a-z0-9.-]+\.[a-z]+)`", rule))
    assert named == {*HF_HOSTS, *(f"*{suffix}" for suffix in HF_HOST_SUFFIXES)}, rule
    assert "`https://`" in rule
    assert "`TEI_API_KEY`" in bullet
    assert "hf.space" in bullet  # named as excluded
    assert "removed from server texts before they are stored in an exception or logged" in " ".join(
        bullet.split()
    )


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("https://huggingface.co/api/inference/models/x", "endpoint"),
        ("https://router.huggingface.co/hf-inference/models/x", "endpoint"),
        ("https://x.endpoints.huggingface.cloud", "endpoint"),
        ("https://x.endpoints.huggingface.cloud./", "endpoint"),
        ("https://HUGGINGFACE.CO./x", "endpoint"),
        ("https://x.hf.space", "tei"),
        ("https://huggingface.co.evil.com", "tei"),
        ("https://evilhuggingface.co", "tei"),
        ("https://huggingface.co@evil.com/", "tei"),
        ("https://endpoints.huggingface.cloud", "tei"),
        ("http://127.0.0.1:8080", "tei"),
    ],
)
def test_mode_inference_uses_the_same_hosts(url: str, mode: str) -> None:
    """A url implies endpoint mode exactly when its host may receive an environment token."""
    from urllib.parse import urlsplit

    from hfe_core.auth import is_hugging_face_host

    assert EmbedderSettings(url=url).mode == mode
    assert is_hugging_face_host(urlsplit(url).hostname or "") is (mode == "endpoint")
