"""Query and document prompts: explicit > the model's own > a known family's > none.

Models trained with instructions (E5, BGE, nomic-embed, Qwen3-Embedding, EmbeddingGemma...) lose
quality when queries and documents are embedded the same way. hfe applies, per side:

1. ``query_prompt`` / ``document_prompt`` when given ('' disables the prompt);
2. the prompt saved with the model (sentence-transformers ``prompts``: ``query``
   for queries; ``document``, ``passage`` or ``corpus`` for documents), or its
   ``default_prompt_name``;
3. the prompt of a well-known family, matched on the model name, when the model
   carries none (table :data:`KNOWN_PROMPTS`);
4. no prompt.

A family may also carry named task prompts (EmbeddingGemma's ``Clustering``, ``STS``...), under the
names its sentence-transformers config uses: :func:`family_prompts` returns them all, so that a
``prompt_name`` can be resolved for a server that does not report the model's prompts.

Every string in :data:`KNOWN_PROMPTS` is copied from the source cited next to it (the model's
``config_sentence_transformers.json`` where it has one, else its model card); whitespace is part of
the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hfe_core.config import InputType

__all__ = [
    "KNOWN_PROMPTS",
    "PromptFamily",
    "family_prompt",
    "family_prompts",
    "match_family",
    "resolve_prompt",
    "saved_prompt",
]

_NO_TASKS: Mapping[str, str] = MappingProxyType({})

# BGE's English retrieval instruction (https://github.com/FlagOpen/FlagEmbedding README.md and
# README_zh.md, "Model List", column "query instruction for retrieval": the same for bge-*-en and
# bge-*-en-v1.5; mteb bge_models.py), which the arctic-embed v1 and mxbai-embed-large-v1 cards reuse.
_REPRESENT_QUERY = "Represent this sentence for searching relevant passages: "
# BGE's Chinese one, same sources; it ends with U+FF1A (a fullwidth colon), no space.
_BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："


@dataclass(frozen=True)
class PromptFamily:
    """Prompts of a model family, matched on the last path component of the model name.

    ``pattern`` must match that whole component, lower-cased. ``tasks`` holds the family's named
    prompts beyond ``query`` and ``document``, under the names of its sentence-transformers config
    (``Clustering``, ``STS``...); empty when the model defines none.
    """

    name: str
    pattern: re.Pattern[str]
    query: str
    document: str
    tasks: Mapping[str, str] = field(default_factory=lambda: _NO_TASKS, hash=False)

    def prompts(self) -> dict[str, str]:
        """All the family's named prompts: ``query``, ``document`` and its tasks."""
        return {"query": self.query, "document": self.document, **self.tasks}


# google/embeddinggemma-300m: the ``prompts`` of its config_sentence_transformers.json
# (https://huggingface.co/google/embeddinggemma-300m/blob/main/config_sentence_transformers.json), as
# written by huggingface/transformers src/transformers/models/gemma3/convert_gemma3_weights.py
# (``task_prompts``, which that conversion saves with the model). Copies of that config in public code
# carry the same 14 names and strings. Its ``query`` and ``document`` are the family's own.
_EMBEDDINGGEMMA_TASKS = MappingProxyType(
    {
        "BitextMining": "task: search result | query: ",
        "Clustering": "task: clustering | query: ",
        "Classification": "task: classification | query: ",
        "InstructionRetrieval": "task: code retrieval | query: ",
        "MultilabelClassification": "task: classification | query: ",
        "PairClassification": "task: sentence similarity | query: ",
        "Reranking": "task: search result | query: ",
        "Retrieval": "task: search result | query: ",
        "Retrieval-query": "task: search result | query: ",
        "Retrieval-document": "title: none | text: ",
        "STS": "task: sentence similarity | query: ",
        "Summarization": "task: summarization | query: ",
    }
)

# nomic-ai/nomic-embed-text-v2-moe: config_sentence_transformers.json ``prompts`` (``query`` is
# "search_query: ", and the document prompt is stored as ``passage``; the model card's example
# uses ``prompt_name="passage"``). Seen verbatim in copies of that config (an Ollama blob of
# nomic-embed-text-v2-moe and reference encoders quoting it); mteb nomic_models.py agrees.
_NOMIC_V2_TASKS = MappingProxyType(
    {
        "passage": "search_document: ",
        "Classification": "classification: ",
        "MultilabelClassification": "classification: ",
        "Clustering": "clustering: ",
        "PairClassification": "classification: ",
        "STS": "classification: ",
        "Summarization": "classification: ",
        "Speed": "search_document: ",
    }
)


#: Families whose prompts hfe knows. Patterns are mutually exclusive and strict: a fine-tune, a
#: quantised export or a sibling model under another name does not match.
KNOWN_PROMPTS: tuple[PromptFamily, ...] = (
    # intfloat/e5-{small,base,large}[-v2] model cards (https://huggingface.co/intfloat/e5-base-v2):
    # inputs start with "query: " or "passage: "; embeddings-benchmark/mteb e5_models.py model_prompts.
    PromptFamily("e5", re.compile(r"e5-(small|base|large)(-v2)?"), "query: ", "passage: "),
    # intfloat/multilingual-e5-{small,base,large} model cards: "query: " / "passage: ", even for
    # non-English texts (https://huggingface.co/intfloat/multilingual-e5-large); mteb e5_models.py.
    PromptFamily(
        "multilingual-e5", re.compile(r"multilingual-e5-(small|base|large)"), "query: ", "passage: "
    ),
    # https://huggingface.co/intfloat/multilingual-e5-large-instruct model card:
    # get_detailed_instruct -> f'Instruct: {task_description}\nQuery: {query}' with the web-search
    # task; "No need to add instruction for retrieval documents". Same template in FlagEmbedding
    # inference/embedder/model_mapping.py and mteb e5_instruct.py (E5_INSTRUCTION).
    PromptFamily(
        "multilingual-e5-instruct",
        re.compile(r"multilingual-e5-large-instruct"),
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ",
        "",
    ),
    # BGE v1 and v1.5 English/Chinese: FlagOpen/FlagEmbedding README model list (v1 models carry the
    # same instruction as v1.5); documents take none.
    PromptFamily("bge-en", re.compile(r"bge-(small|base|large)-en(-v1\.5)?"), _REPRESENT_QUERY, ""),
    PromptFamily("bge-zh", re.compile(r"bge-(small|base|large)-zh(-v1\.5)?"), _BGE_ZH_QUERY, ""),
    # BAAI/bge-m3: no instruction (FlagEmbedding README_zh.md model list: empty instruction column;
    # https://huggingface.co/BAAI/bge-m3). An explicit entry, so that it matches nothing else.
    PromptFamily("bge-m3", re.compile(r"bge-m3"), "", ""),
    # Qwen/Qwen3-Embedding-{0.6B,4B,8B}: config_sentence_transformers.json
    # (https://huggingface.co/Qwen/Qwen3-Embedding-0.6B/blob/main/config_sentence_transformers.json)
    # {"query": "Instruct: Given a web search query, retrieve relevant passages that answer the
    # query\nQuery:", "document": ""}: NO space after "Query:" (the card's get_detailed_instruct is
    # f'Instruct: {task_description}\nQuery:{query}'; mteb qwen3_models.py likewise). The 4B and 8B
    # cards use the same prompt_name="query".
    PromptFamily(
        "qwen3-embedding",
        re.compile(r"qwen3-embedding-(0\.6b|4b|8b)"),
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
        "",
    ),
    # google/embeddinggemma-300m: see _EMBEDDINGGEMMA_TASKS; "query" and "document" of that config.
    PromptFamily(
        "embeddinggemma",
        re.compile(r"embeddinggemma-300m"),
        "task: search result | query: ",
        "title: none | text: ",
        _EMBEDDINGGEMMA_TASKS,
    ),
    # Alibaba-NLP/gte-Qwen2-{1.5B,7B}-instruct model card
    # (https://huggingface.co/Alibaba-NLP/gte-Qwen2-7B-instruct): prompt_name="query" for queries,
    # get_detailed_instruct -> f'Instruct: {task_description}\nQuery: {query}' (a space after
    # "Query:") with the web-search task; "No need to add instruction for retrieval documents".
    # Same template in FlagEmbedding model_mapping.py and mteb gte_models.py.
    PromptFamily(
        "gte-qwen2-instruct",
        re.compile(r"gte-qwen2-(1\.5b|7b)-instruct"),
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ",
        "",
    ),
    # Snowflake/snowflake-arctic-embed-{xs,s,m,m-long,l} and -m-v1.5: Snowflake-Labs/arctic-embed
    # README, "use the query prefix below (just on the query)": QUERY_PREFIX = 'Represent this
    # sentence for searching relevant passages: '; mteb arctic_models.py (m-v1.5).
    PromptFamily(
        "arctic-embed-v1",
        re.compile(r"snowflake-arctic-embed-(xs|s|m|m-long|l|m-v1\.5)"),
        _REPRESENT_QUERY,
        "",
    ),
    # Snowflake/snowflake-arctic-embed-{m,l}-v2.0 model cards
    # (https://huggingface.co/Snowflake/snowflake-arctic-embed-l-v2.0): query_prefix = 'query: ',
    # prompt_name="query"; documents take none.
    PromptFamily("arctic-embed-v2", re.compile(r"snowflake-arctic-embed-(m|l)-v2\.0"), "query: ", ""),
    # https://huggingface.co/mixedbread-ai/mxbai-embed-large-v1 model card: query_prompt =
    # 'Represent this sentence for searching relevant passages: '; "Besides that you don't need any
    # prompt"; mteb mixedbread_ai_models.py.
    PromptFamily("mxbai-embed-large-v1", re.compile(r"mxbai-embed-large-v1"), _REPRESENT_QUERY, ""),
    # nomic-ai/nomic-embed-text-v1 and -v1.5 model cards
    # (https://huggingface.co/nomic-ai/nomic-embed-text-v1.5): "We support the prefixes [search_query,
    # search_document, classification, clustering]", used as "<prefix>: <text>"; the same four
    # strings in nomic-ai/contrastors eval_mteb.py (quoted by mteb nomic_models.py). The task names
    # follow nomic's v2-moe config. The bare name is Ollama's (v1.5).
    PromptFamily(
        "nomic-embed-text-v1",
        re.compile(r"nomic-embed-text(-v1|-v1\.5)?"),
        "search_query: ",
        "search_document: ",
        MappingProxyType({"Classification": "classification: ", "Clustering": "clustering: "}),
    ),
    # nomic-ai/nomic-embed-text-v2-moe: see _NOMIC_V2_TASKS.
    PromptFamily(
        "nomic-embed-text-v2-moe",
        re.compile(r"nomic-embed-text-v2-moe"),
        "search_query: ",
        "search_document: ",
        _NOMIC_V2_TASKS,
    ),
)

_SAVED_NAMES: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "document": ("document", "passage", "corpus"),
}


def match_family(model: str) -> PromptFamily | None:
    """The known family ``model`` belongs to (on its last path component, any case), or ``None``."""
    base = model.rstrip("/").rsplit("/", 1)[-1].lower()
    for family in KNOWN_PROMPTS:
        if family.pattern.fullmatch(base):
            return family
    return None


def family_prompt(model: str, input_type: InputType) -> str | None:
    """The prompt of the known family ``model`` belongs to, or ``None``."""
    family = match_family(model)
    if family is None:
        return None
    return family.query if input_type == "query" else family.document


def family_prompts(model: str) -> dict[str, str] | None:
    """All named prompts of ``model``'s known family, in sentence-transformers naming, or ``None``.

    ``{"query": ..., "document": ..., "Clustering": ...}``: the query and document prompts (``''``
    for a side that takes none) and the family's task prompts, so that a ``prompt_name`` can be
    resolved from the table.
    """
    family = match_family(model)
    return None if family is None else family.prompts()


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
