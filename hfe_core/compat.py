"""Configurations written for mem0 and embedchain, read as hfe settings.

Accepted shapes (a dict, or a ``.yaml``/``.yml``/``.json`` file holding one)::

    {"provider": "huggingface", "config": {...}}                 # mem0 / embedchain embedder
    {"embedder": {"provider": "huggingface", "config": {...}}}   # a whole mem0 or embedchain config
    {"provider": "hfe", "config": {<EmbedderSettings fields>}}   # hfe's own keys

Keys and what they become:

=========================  =================  =============================================
key                        from               hfe setting
=========================  =================  =============================================
``model``                  both               ``model`` (mem0's default when absent:
                                              ``sentence-transformers/multi-qa-MiniLM-L6-cos-v1``)
``api_key``                both               ``token`` (env ``HUGGINGFACE_API_KEY`` for mem0,
                                              ``HUGGINGFACE_ACCESS_TOKEN`` for embedchain)
``model_kwargs``           both               ``model_kwargs`` locally; against a server its
                                              ``truncate``, ``truncation_direction``,
                                              ``normalize``, ``dimensions`` become settings
``huggingface_base_url``   mem0               ``mode="tei"``, ``url`` (an empty string is an error)
``embedding_dims``         mem0               ``expected_dimension`` (checked, not trusted)
``http_client_proxies``    mem0               ``proxies``
``endpoint``               embedchain         ``mode="endpoint"``, ``url``
``vector_dimension``       embedchain         ``expected_dimension`` (checked, not trusted)
``api_base``,              embedchain         accepted and ignored (embedchain ignores them too)
``deployment_name``
=========================  =================  =============================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hfe_core.config import SETTING_ALIASES, EmbedderSettings
from hfe_core.errors import ConfigurationError

__all__ = ["MEM0_DEFAULT_MODEL", "settings_from_config"]

logger = logging.getLogger("hfe")

#: mem0's HuggingFaceEmbedding default model when the config names none.
MEM0_DEFAULT_MODEL = "sentence-transformers/multi-qa-MiniLM-L6-cos-v1"

_PROVIDERS = {"huggingface", "hfe"}
_COMMON = {"model", "api_key", "model_kwargs"}
_MEM0 = {"huggingface_base_url", "embedding_dims", "http_client_proxies"}
_EMBEDCHAIN = {"endpoint", "vector_dimension", "api_base", "deployment_name"}
_IGNORED = {"api_base", "deployment_name"}


def _load(config: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(config, Mapping):
        return config
    path = Path(config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the configuration file {str(path)!r}: {exc}") from exc
    if path.suffix.lower() == ".json":
        loaded = json.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        loaded = yaml.safe_load(text)
    else:
        raise ConfigurationError(f"{str(path)!r}: use a .yaml, .yml or .json file, or pass a dict.")
    if not isinstance(loaded, Mapping):
        raise ConfigurationError(f"{str(path)!r} does not hold a mapping at its top level.")
    return loaded


def _embedder_section(config: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    section = config.get("embedder", config) if "provider" not in config else config
    if not isinstance(section, Mapping) or "provider" not in section:
        raise ConfigurationError(
            "The configuration has no embedder: expected {'provider': 'huggingface', 'config': {...}} "
            "or an 'embedder' section holding one."
        )
    provider = str(section["provider"]).lower()
    if provider not in _PROVIDERS:
        raise ConfigurationError(
            f"provider={section['provider']!r} is not a Hugging Face embedder; hfe reads "
            "provider 'huggingface' (mem0, embedchain) or 'hfe'."
        )
    inner = section.get("config") or {}
    if not isinstance(inner, Mapping):
        raise ConfigurationError("The embedder's 'config' must be a mapping.")
    return provider, inner


def _translate(inner: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(inner) - _COMMON - _MEM0 - _EMBEDCHAIN)
    if unknown:
        raise ConfigurationError(
            f"Unknown key(s) in the huggingface embedder config: {', '.join(unknown)}. Known keys: "
            f"{', '.join(sorted(_COMMON | _MEM0 | _EMBEDCHAIN))}."
        )
    out: dict[str, Any] = {}
    if inner.get("model") is not None:
        out["model"] = inner["model"]
    if inner.get("api_key"):
        out["token"] = inner["api_key"]
    if inner.get("model_kwargs"):
        if inner.get("huggingface_base_url") or inner.get("endpoint"):
            out.update(_server_kwargs(dict(inner["model_kwargs"])))
        else:
            out["model_kwargs"] = dict(inner["model_kwargs"])
    if inner.get("huggingface_base_url") is not None and inner.get("endpoint") is not None:
        raise ConfigurationError("Give huggingface_base_url (mem0) or endpoint (embedchain), not both.")
    for key in ("huggingface_base_url", "endpoint"):
        if key in inner and inner[key] is not None:
            url = str(inner[key])
            if not url.strip():
                raise ConfigurationError(
                    f"{key} is an empty string. Give the server's URL, or remove {key} for local mode."
                )
            out["url"] = url
            out["mode"] = "tei" if key == "huggingface_base_url" else "endpoint"
    dims = [inner[key] for key in ("embedding_dims", "vector_dimension") if inner.get(key) is not None]
    if len(set(dims)) > 1:
        raise ConfigurationError("embedding_dims and vector_dimension disagree; keep one.")
    if dims:
        out["expected_dimension"] = int(dims[0])
    if inner.get("http_client_proxies"):
        proxies = inner["http_client_proxies"]
        out["proxies"] = {"all://": proxies} if isinstance(proxies, str) else dict(proxies)
    for key in sorted(_IGNORED & set(inner)):
        logger.info("hfe: %s is accepted for embedchain compatibility and has no effect.", key)
    if "model" not in out and out.get("mode") in (None, "local"):
        out["model"] = MEM0_DEFAULT_MODEL
    return out


def _server_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """mem0 documents ``model_kwargs`` as request fields against a server: map them to settings."""
    out: dict[str, Any] = {}
    if "truncate" in kwargs:
        out["truncation"] = "truncate" if kwargs.pop("truncate") else "error"
    direction = str(kwargs.pop("truncation_direction", "right")).lower()
    if direction == "left":
        out["truncation"] = "truncate_left" if out.get("truncation", "truncate") == "truncate" else "error"
    if "normalize" in kwargs:
        out["normalize"] = bool(kwargs.pop("normalize"))
    if "dimensions" in kwargs:
        out["dimensions"] = int(kwargs.pop("dimensions"))
    if kwargs:
        raise ConfigurationError(
            f"model_kwargs {sorted(kwargs)} have no meaning against a server; hfe maps truncate, "
            "truncation_direction, normalize and dimensions (use hfe's own settings for the rest)."
        )
    return out


def settings_from_config(config: Mapping[str, Any] | str | Path, **overrides: Any) -> dict[str, Any]:
    """Translate a mem0, embedchain or hfe configuration into hfe keyword settings.

    Args:
        config: a dict, or the path of a YAML or JSON file.
        **overrides: hfe settings that win over the configuration.

    Returns:
        Keyword arguments for :class:`~hfe_core.config.EmbedderSettings` (or an adapter).

    Raises:
        ConfigurationError: the configuration is malformed or has unknown keys.

    Example:
        >>> settings = settings_from_config({"provider": "huggingface",
        ...                                  "config": {"huggingface_base_url": "http://localhost:8080/v1"}})
        >>> settings["mode"], settings["url"]
        ('tei', 'http://localhost:8080/v1')
    """
    provider, inner = _embedder_section(_load(config))
    if provider == "hfe":
        aliases = {alias for names in SETTING_ALIASES.values() for alias in names}
        accepted = set(EmbedderSettings.model_fields) | aliases | {"truncate_text"}
        unknown = sorted(set(inner) - accepted)
        if unknown:
            raise ConfigurationError(f"Unknown hfe setting(s): {', '.join(unknown)}.")
        settings = dict(inner)
    else:
        settings = _translate(inner)
    settings.update(overrides)
    return settings
