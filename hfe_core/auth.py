"""Token resolution: explicit argument, then environment, then the stored login.

The order is documented once here and in the README::

    1. the ``token`` (alias ``api_key``) argument
    2. HF_TOKEN
    3. HUGGING_FACE_HUB_TOKEN
    4. HUGGINGFACEHUB_API_TOKEN   (LangChain)
    5. HUGGINGFACE_ACCESS_TOKEN   (embedchain)
    6. HUGGINGFACE_API_KEY        (mem0)
    7. the token stored by ``hf auth login`` (``huggingface_hub.get_token()``)

In tei mode ``TEI_API_KEY`` (the server's ``--api-key``) comes before 2.

Where a token may go (:func:`token_for_url`, the one place that decides; the README
states the same rule):

* a token passed as ``token=`` / ``api_key=``, and ``TEI_API_KEY`` (the key of the
  TEI server the user configured), go to whatever URL the embedder talks to;
* a token found in a Hugging Face variable (2.-6.) or the stored login (7.) goes
  only to ``https://`` URLs, without user info, whose host is ``huggingface.co``, a
  subdomain of it, or a subdomain of ``endpoints.huggingface.cloud``
  (:data:`HF_HOSTS`, :data:`HF_HOST_SUFFIXES`). Never over ``http://``, never to a
  Space (``*.hf.space`` runs someone else's code), never to any other host.
  Pass it explicitly to send it elsewhere.

The token is kept as a :class:`pydantic.SecretStr` and never appears in a
``repr``, a log line, an exception or a serialized object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

__all__ = [
    "EXPLICIT_TOKEN_SOURCES",
    "HF_HOSTS",
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


#: Token sources sent to any URL: the caller's argument, and a TEI server's own ``--api-key``.
EXPLICIT_TOKEN_SOURCES: tuple[str, ...] = ("argument", "TEI_API_KEY")
#: Hosts that may receive a token found in the environment or the stored login (over https only).
HF_HOSTS: tuple[str, ...] = ("huggingface.co",)
#: Their subdomains may too: the Hub's (``router.``, ``api-inference.``) and dedicated Inference
#: Endpoints'. ``*.hf.space`` is not here: a Space runs someone else's code.
HF_HOST_SUFFIXES: tuple[str, ...] = (".huggingface.co", ".endpoints.huggingface.cloud")
#: The only scheme on which such a token is sent (never in cleartext).
_ENVIRONMENT_TOKEN_SCHEME = "https"  # noqa: S105 - a URL scheme, not a secret
# One DNS label, ASCII letters, digits and inner hyphens: anything else (IDN, %, \, _) is refused.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def is_hugging_face_host(host: str) -> bool:
    """True when ``host`` may receive a token found in the environment or the stored login.

    That is ``huggingface.co`` (:data:`HF_HOSTS`) and the subdomains of
    :data:`HF_HOST_SUFFIXES`, in ASCII (case and one trailing dot do not matter). Hosts
    that only look alike (``huggingface.co.evil.com``, ``evilhuggingface.co``, Unicode
    look-alikes) are not.

    Args:
        host: a host name, as ``urllib.parse.urlsplit(url).hostname`` gives it.

    Returns:
        Whether the host is one of Hugging Face's own.
    """
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii() or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return False
    return host in HF_HOSTS or host.endswith(HF_HOST_SUFFIXES)


def _may_receive_environment_token(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    if parts.scheme != _ENVIRONMENT_TOKEN_SCHEME or "@" in parts.netloc:
        return False  # cleartext, or user info (https://huggingface.co@evil.com/ goes to evil.com)
    return is_hugging_face_host(parts.hostname or "")


def token_for_url(token: SecretStr | None, source: str | None, url: str) -> str | None:
    """The token to send to ``url``, or ``None``: the one place that decides where a token goes.

    A token the caller passed (``"argument"``) or a TEI server's own key (``TEI_API_KEY``)
    goes to any URL. One found in a Hugging Face variable or the stored login goes only to
    ``https://`` URLs without user info on Hugging Face's hosts (:func:`is_hugging_face_host`):
    never in cleartext, never to a Space, a self-hosted server or a look-alike host.

    Args:
        token: the resolved token, if any.
        source: where it came from (:attr:`ResolvedToken.source`).
        url: the URL the token would be sent to.

    Returns:
        The token's value, or ``None`` when it must not go to ``url``.
    """
    if token is None:
        return None
    if source in EXPLICIT_TOKEN_SOURCES or _may_receive_environment_token(url):
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
