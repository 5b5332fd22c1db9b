"""Token resolution: explicit argument, then environment, then the stored login.

The order is documented once here and in the README::

    1. the ``token`` (alias ``api_key``) argument
    2. HF_TOKEN
    3. HUGGING_FACE_HUB_TOKEN
    4. HUGGINGFACEHUB_API_TOKEN   (LangChain)
    5. HUGGINGFACE_ACCESS_TOKEN   (embedchain)
    6. HUGGINGFACE_API_KEY        (mem0)
    7. the token stored by ``hf auth login`` (``huggingface_hub.get_token()``)

In tei mode ``TEI_API_KEY`` (the server's ``--api-key``) comes before 2. A token
that came from a Hugging Face variable or the stored login is only ever sent to
Hugging Face hosts (:func:`token_for_url`); pass it explicitly to send it elsewhere.

The token is kept as a :class:`pydantic.SecretStr` and never appears in a
``repr``, a log line, an exception or a serialized object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

__all__ = [
    "HF_HOST_SUFFIXES",
    "REDACTED",
    "TOKEN_ENV_VARS",
    "ResolvedToken",
    "is_hugging_face_host",
    "redact",
    "resolve_token",
    "token_for_url",
]

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


def resolve_token(
    explicit: SecretStr | str | None, environ: Mapping[str, str], *, first: tuple[str, ...] = ()
) -> ResolvedToken:
    """Resolve the Hugging Face token along the documented chain.

    Args:
        explicit: the token passed by the caller, if any.
        environ: the environment to read (``os.environ`` in production).
        first: variables a mode reads before the chain (tei mode: ``TEI_API_KEY``).

    Returns:
        The token (or ``None``) and its source.
    """
    if explicit is not None:
        raw = explicit.get_secret_value() if isinstance(explicit, SecretStr) else explicit
        if raw.strip():
            return ResolvedToken(SecretStr(raw.strip()), "argument")
    for name in (*first, *TOKEN_ENV_VARS):
        found = environ.get(name, "").strip()
        if found:
            return ResolvedToken(SecretStr(found), name)
    stored = _stored_login()
    if stored:
        return ResolvedToken(SecretStr(stored), "login")
    return ResolvedToken(None, None)


#: Hosts that may receive a Hugging Face token found in the environment or the stored login.
HF_HOST_SUFFIXES = (".huggingface.co", ".endpoints.huggingface.cloud", ".hf.space")


def is_hugging_face_host(host: str) -> bool:
    """True for ``huggingface.co`` and the Hugging Face domains of :data:`HF_HOST_SUFFIXES`."""
    host = host.lower().rstrip(".")
    return host == "huggingface.co" or host.endswith(HF_HOST_SUFFIXES)


def token_for_url(token: SecretStr | None, source: str | None, url: str) -> str | None:
    """The token to send to ``url``, or ``None``.

    A token the caller passed (``"argument"``) or a server key (``TEI_API_KEY``) goes
    to any URL; one found in a Hugging Face variable or the stored login goes only to
    Hugging Face hosts, so a self-hosted server never receives the user's HF token.
    """
    from urllib.parse import urlparse

    if token is None:
        return None
    if source in ("argument", "TEI_API_KEY") or is_hugging_face_host(urlparse(url).hostname or ""):
        return token.get_secret_value()
    return None


#: What a credential is replaced by in server texts, messages and log lines.
REDACTED = "[REDACTED]"
#: Secrets shorter than this are not searched for (they would match ordinary text).
_MIN_SECRET_LENGTH = 4


def redact(text: str, secrets: Iterable[str | SecretStr | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[REDACTED]``.

    The one scrubber of hfe: every server text (error bodies, proxy pages) goes through it
    before it is stored in an exception or written to a log line, so that a gateway that
    echoes request headers cannot put a credential there. The ``Bearer`` form and the
    bare value are both covered, since the bare value is a substring of the other.

    Args:
        text: a text that came from a server.
        secrets: the credentials hfe holds for that server (``None`` entries are skipped).

    Returns:
        The text without any of the secrets.

    Example:
        >>> redact("echo: Authorization: Bearer hf_abcdef", ["hf_abcdef"])
        'echo: Authorization: Bearer [REDACTED]'
    """
    for secret in secrets:
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if raw and len(raw) >= _MIN_SECRET_LENGTH and raw in text:
            text = text.replace(raw, REDACTED)
    return text
