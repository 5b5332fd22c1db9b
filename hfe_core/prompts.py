"""Query and document prompts: explicit > the model's own > a known family's > none.

Models trained with instructions (E5, BGE v1.5, nomic-embed) lose quality when
queries and documents are embedded the same way. hfe applies, per side:

1. ``query_prompt`` / ``document_prompt`` when given ('' disables the prompt);
2. the prompt saved with the model (sentence-transformers ``prompts``: ``query``
   for queries; ``document``, ``passage`` or ``corpus`` for documents), or its
   ``default_prompt_name``;
3. the prompt of a well-known family, matched on the model name, when the model
   carries none (table :data:`KNOWN_PROMPTS`);
4. no prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hfe_core.config import InputType

__all__ = ["KNOWN_PROMPTS", "PromptFamily", "family_prompt", "resolve_prompt", "saved_prompt"]

_BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "
_BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："


@dataclass(frozen=True)
class PromptFamily:
    """Prompts of a model family, matched on the last path component of the model name."""

    name: str
    pattern: re.Pattern[str]
    query: str
    document: str


#: Families whose prompts hfe knows, from their model cards.
KNOWN_PROMPTS: tuple[PromptFamily, ...] = (
    PromptFamily("e5", re.compile(r"^(multilingual-)?e5-(small|base|large)(-v2)?$"), "query: ", "passage: "),
    PromptFamily("bge-en-v1.5", re.compile(r"^bge-(small|base|large)-en-v1\.5$"), _BGE_EN_QUERY, ""),
    PromptFamily("bge-zh-v1.5", re.compile(r"^bge-(small|base|large)-zh-v1\.5$"), _BGE_ZH_QUERY, ""),
    PromptFamily(
        "nomic", re.compile(r"^nomic-embed-text(-v[\d.]+)?$"), "search_query: ", "search_document: "
    ),
)

_SAVED_NAMES: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "document": ("document", "passage", "corpus"),
}


def family_prompt(model: str, input_type: InputType) -> str | None:
    """The prompt of the known family ``model`` belongs to, or ``None``."""
    base = model.rstrip("/").rsplit("/", 1)[-1].lower()
    for family in KNOWN_PROMPTS:
        if family.pattern.match(base):
            return family.query if input_type == "query" else family.document
    return None


def saved_prompt(
    prompts: Mapping[str, str | None], default_prompt_name: str | None, input_type: InputType
) -> str | None:
    """The prompt saved with a model for one side, or ``None`` when it has none (or only empty ones)."""
    for name in _SAVED_NAMES[input_type]:
        if prompts.get(name):
            return prompts[name]
    if default_prompt_name and prompts.get(default_prompt_name):
        return prompts[default_prompt_name]
    return None


def resolve_prompt(
    *,
    input_type: InputType,
    explicit: str | None,
    saved: str | None,
    model: str | None,
) -> str:
    """Apply the precedence chain of this module; returns '' for no prompt."""
    if explicit is not None:
        return explicit
    if saved:
        return saved
    if model:
        return family_prompt(model, input_type) or ""
    return ""
