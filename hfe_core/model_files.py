"""What a model's own files say about it, for a server that does not report it: its input limit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

__all__ = ["model_input_limit"]

logger = logging.getLogger("hfe")

#: tokenizer_config.json's "no limit" (1e30) and any value past it: not a limit.
_NO_LIMIT = 1_000_000
#: Where a model says how many tokens it takes: the first found wins (sentence-transformers' own first).
_LIMIT_FILES = (
    ("sentence_bert_config.json", "max_seq_length"),
    ("tokenizer_config.json", "model_max_length"),
)


def model_input_limit(
    model: str,
    *,
    revision: str | None = None,
    cache_folder: str | None = None,
    token: str | bool = False,
) -> tuple[int, str] | None:
    """A model's limit per input in tokens, from its own files, for a server that does not report one.

    ``sentence_bert_config.json``'s ``max_seq_length`` (what sentence-transformers, and so local mode,
    keeps), else ``tokenizer_config.json``'s ``model_max_length`` (not its "no limit" 1e30). Each file is
    looked for as :func:`hfe_core.tokenizer.find_tokenizer` looks for ``tokenizer.json``: a local
    folder, a model packaged as a Python package, the Hugging Face cache, then (unless
    ``HF_HUB_OFFLINE``) one download. Never raises.

    Args:
        model: a Hub id or a local folder.
        revision: the model revision.
        cache_folder: the Hugging Face cache to look in.
        token: a Hugging Face token for a private model (``False``: none).

    Returns:
        ``(limit, where it was read)``, or ``None``.

    Example:
        >>> model_input_limit("sentence-transformers/all-MiniLM-L6-v2")[0]  # doctest: +SKIP
        256
    """
    for name, key in _LIMIT_FILES:
        path = _model_file(model, name, revision, cache_folder, token)
        if path is None:
            continue
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError) as exc:
            logger.debug("hfe: could not read %s: %s", path, exc)
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < _NO_LIMIT:
            return int(value), f"{key} in {name}"
    return None


def _model_file(
    model: str, name: str, revision: str | None, cache_folder: str | None, token: str | bool
) -> Path | None:
    """``name`` of ``model``: a local folder's, a packaged model's, the cache's, or downloaded once."""
    folder = Path(model).expanduser()
    if (folder / name).is_file():
        return folder / name
    from hfe_core.backends.local import packaged_model_path

    packaged = packaged_model_path(model)
    if packaged and (Path(packaged) / name).is_file():
        return Path(packaged) / name
    if folder.exists():
        return None  # a local folder without the file
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(model, name, cache_dir=cache_folder, revision=revision)
    except HFValidationError:
        return None  # not a repository id (a served name such as "minilm")
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None or constants.HF_HUB_OFFLINE:
        return None  # cached as "no such file", or no Hub to ask
    try:
        return Path(hf_hub_download(model, name, revision=revision, cache_dir=cache_folder, token=token))
    except Exception as exc:  # noqa: BLE001 - any failure means: not found here
        logger.debug("hfe: no %s for %s from the Hub: %s", name, model, exc)
        return None
