"""Token resolution: explicit argument, then environment, then the stored login.

The order is documented once here and in the README::

    1. the ``token`` (alias ``api_key``) argument
    2. HF_TOKEN
    3. HUGGING_FACE_HUB_TOKEN
    4. HUGGINGFACEHUB_API_TOKEN   (LangChain)
    5. HUGGINGFACE_ACCESS_TOKEN   (embedchain)
    6. HUGGINGFACE_API_KEY        (mem0)
    7. the token stored by ``hf auth login`` (``huggingface_hub.get_token()``)

The token is kept as a :class:`pydantic.SecretStr` and never appears in a
``repr``, a log line, an exception or a serialized object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["TOKEN_ENV_VARS", "ResolvedToken", "resolve_token"]

#: Environment variables read for a Hugging Face token, in order of precedence.
TOKEN_ENV_VARS: tuple[str, ...] = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "HUGGINGFACE_ACCESS_TOKEN",
    "HUGGINGFACE_API_KEY",
)


@dataclass(frozen=True)
class ResolvedToken:
    """A token and where it came from (``"argument"``, an environment variable, or ``"login"``)."""

    value: SecretStr | None
    source: str | None

    @property
    def explicit(self) -> bool:
        """True when the caller passed the token as an argument."""
        return self.source == "argument"


def _stored_login() -> str | None:
    # The token file written by `hf auth login` ($HF_TOKEN_PATH, default $HF_HOME/token).
    # huggingface_hub.get_token() would read HF_TOKEN again, which the chain already did.
    from huggingface_hub import constants

    try:
        with open(constants.HF_TOKEN_PATH, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError:
        return None
    return token or None


def resolve_token(explicit: SecretStr | str | None, environ: Mapping[str, str]) -> ResolvedToken:
    """Resolve the Hugging Face token along the documented chain.

    Args:
        explicit: the token passed by the caller, if any.
        environ: the environment to read (``os.environ`` in production).

    Returns:
        The token (or ``None``) and its source.
    """
    if explicit is not None:
        raw = explicit.get_secret_value() if isinstance(explicit, SecretStr) else explicit
        if raw.strip():
            return ResolvedToken(SecretStr(raw.strip()), "argument")
    for name in TOKEN_ENV_VARS:
        found = environ.get(name, "").strip()
        if found:
            return ResolvedToken(SecretStr(found), name)
    stored = _stored_login()
    if stored:
        return ResolvedToken(SecretStr(stored), "login")
    return ResolvedToken(None, None)
