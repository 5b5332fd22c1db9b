"""Prompt registry and precedence: explicit > saved with the model > known family > none.

Each family test quotes the prompt strings of its source (cited next to it), character for
character: the expected values are spelled out here rather than imported from hfe_core.prompts.
"""

from __future__ import annotations

import dataclasses

import pytest

from hfe_core.prompts import (
    KNOWN_PROMPTS,
    PromptFamily,
    family_prompt,
    family_prompts,
    match_family,
    resolve_prompt,
    saved_prompt,
)

REPRESENT_QUERY = "Represent this sentence for searching relevant passages: "
WEB_SEARCH_INSTRUCT = (
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
)


def assert_family(model: str, name: str, query: str, document: str) -> None:
    family = match_family(model)
    assert family is not None and family.name == name, model
    assert family_prompt(model, "query") == query
    assert family_prompt(model, "document") == document


# --- one test per family ------------------------------------------------------------------------------


# intfloat/e5-*[-v2] model cards (https://huggingface.co/intfloat/e5-base-v2): "query: " / "passage: ".
@pytest.mark.parametrize(
    "model",
    [
        "intfloat/e5-base-v2",
        "intfloat/e5-small-v2",
        "intfloat/e5-large-v2",
        "intfloat/e5-large",
        "intfloat/e5-small",
        "INTFLOAT/E5-BASE-V2",
        "/models/e5-small-v2",
        "/models/e5-small-v2/",
        "e5-base-v2",
    ],
)
def test_e5(model: str) -> None:
    assert_family(model, "e5", "query: ", "passage: ")


# intfloat/multilingual-e5-* model cards (https://huggingface.co/intfloat/multilingual-e5-large).
@pytest.mark.parametrize(
    "model",
    [
        "intfloat/multilingual-e5-small",
        "intfloat/multilingual-e5-base",
        "intfloat/multilingual-e5-large",
        "./checkpoints/multilingual-e5-base",
    ],
)
def test_multilingual_e5(model: str) -> None:
    assert_family(model, "multilingual-e5", "query: ", "passage: ")


# https://huggingface.co/intfloat/multilingual-e5-large-instruct card:
# f'Instruct: {task_description}\nQuery: {query}' (a space after "Query:") with the web-search task;
# documents take no instruction.
def test_multilingual_e5_large_instruct() -> None:
    assert_family(
        "intfloat/multilingual-e5-large-instruct",
        "multilingual-e5-instruct",
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ",
        "",
    )


# FlagOpen/FlagEmbedding README model list: v1 and v1.5 share the instruction; documents take none.
@pytest.mark.parametrize("size", ["small", "base", "large"])
@pytest.mark.parametrize("version", ["", "-v1.5"])
def test_bge_en(size: str, version: str) -> None:
    assert_family(f"BAAI/bge-{size}-en{version}", "bge-en", REPRESENT_QUERY, "")


# Same source; the instruction ends with a fullwidth colon (U+FF1A) and no space.
@pytest.mark.parametrize("size", ["small", "base", "large"])
@pytest.mark.parametrize("version", ["", "-v1.5"])
def test_bge_zh(size: str, version: str) -> None:
    query = "为这个句子生成表示以用于检索相关文章："
    assert query[-1] == "\uff1a" and len(query) == 19
    assert_family(f"BAAI/bge-{size}-zh{version}", "bge-zh", query, "")


# https://huggingface.co/BAAI/bge-m3 (FlagEmbedding README model list: no instruction): an explicit
# entry with no prompt, so that the name falls through to nothing else.
def test_bge_m3_has_no_prompt() -> None:
    assert_family("BAAI/bge-m3", "bge-m3", "", "")
    assert family_prompts("BAAI/bge-m3") == {"query": "", "document": ""}


# Qwen/Qwen3-Embedding-0.6B config_sentence_transformers.json: {"query": "Instruct: Given a web search
# query, retrieve relevant passages that answer the query\nQuery:", "document": ""}: no trailing space.
@pytest.mark.parametrize(
    "model",
    [
        "Qwen/Qwen3-Embedding-0.6B",
        "Qwen/Qwen3-Embedding-4B",
        "Qwen/Qwen3-Embedding-8B",
        "/m/qwen3-embedding-8b/",
    ],
)
def test_qwen3_embedding(model: str) -> None:
    assert_family(model, "qwen3-embedding", WEB_SEARCH_INSTRUCT, "")
    query = family_prompt(model, "query")
    assert query is not None and query.endswith("\nQuery:")
    assert family_prompts(model) == {"query": WEB_SEARCH_INSTRUCT, "document": ""}


# google/embeddinggemma-300m config_sentence_transformers.json, as written by huggingface/transformers
# src/transformers/models/gemma3/convert_gemma3_weights.py (task_prompts).
EMBEDDINGGEMMA_PROMPTS = {
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
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


def test_embeddinggemma() -> None:
    assert_family(
        "google/embeddinggemma-300m",
        "embeddinggemma",
        "task: search result | query: ",
        "title: none | text: ",
    )


def test_embeddinggemma_named_prompts() -> None:
    prompts = family_prompts("google/EmbeddingGemma-300m")
    assert prompts == EMBEDDINGGEMMA_PROMPTS
    assert prompts["Clustering"] == "task: clustering | query: "
    assert prompts["STS"] == "task: sentence similarity | query: "
    family = match_family("google/embeddinggemma-300m")
    assert family is not None and len(family.tasks) == 12
    assert "query" not in family.tasks and "document" not in family.tasks


# https://huggingface.co/Alibaba-NLP/gte-Qwen2-7B-instruct card: prompt_name="query",
# f'Instruct: {task_description}\nQuery: {query}' (a space after "Query:") with the web-search task;
# "No need to add instruction for retrieval documents".
@pytest.mark.parametrize(
    "model", ["Alibaba-NLP/gte-Qwen2-1.5B-instruct", "Alibaba-NLP/gte-Qwen2-7B-instruct"]
)
def test_gte_qwen2_instruct(model: str) -> None:
    assert_family(
        model,
        "gte-qwen2-instruct",
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ",
        "",
    )


# Snowflake-Labs/arctic-embed README: QUERY_PREFIX = 'Represent this sentence for searching relevant
# passages: ', "just on the query" (v1 sizes and m-v1.5).
@pytest.mark.parametrize("variant", ["xs", "s", "m", "m-long", "l", "m-v1.5"])
def test_arctic_embed_v1(variant: str) -> None:
    assert_family(f"Snowflake/snowflake-arctic-embed-{variant}", "arctic-embed-v1", REPRESENT_QUERY, "")


# https://huggingface.co/Snowflake/snowflake-arctic-embed-l-v2.0 card: query_prefix = 'query: '.
@pytest.mark.parametrize("size", ["m", "l"])
def test_arctic_embed_v2(size: str) -> None:
    assert_family(f"Snowflake/snowflake-arctic-embed-{size}-v2.0", "arctic-embed-v2", "query: ", "")


# https://huggingface.co/mixedbread-ai/mxbai-embed-large-v1 card: query_prompt = 'Represent this sentence
# for searching relevant passages: '; "Besides that you don't need any prompt".
def test_mxbai_embed_large_v1() -> None:
    assert_family("mixedbread-ai/mxbai-embed-large-v1", "mxbai-embed-large-v1", REPRESENT_QUERY, "")


# https://huggingface.co/nomic-ai/nomic-embed-text-v1.5 card: prefixes search_query, search_document,
# classification, clustering (each followed by ": "). The bare name is Ollama's.
@pytest.mark.parametrize(
    "model", ["nomic-ai/nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1", "nomic-embed-text"]
)
def test_nomic_v1(model: str) -> None:
    assert_family(model, "nomic-embed-text-v1", "search_query: ", "search_document: ")
    assert family_prompts(model) == {
        "query": "search_query: ",
        "document": "search_document: ",
        "Classification": "classification: ",
        "Clustering": "clustering: ",
    }


# nomic-ai/nomic-embed-text-v2-moe config_sentence_transformers.json (document prompt stored as "passage").
def test_nomic_v2_moe() -> None:
    assert_family(
        "nomic-ai/nomic-embed-text-v2-moe", "nomic-embed-text-v2-moe", "search_query: ", "search_document: "
    )
    assert family_prompts("nomic-ai/nomic-embed-text-v2-moe") == {
        "query": "search_query: ",
        "document": "search_document: ",
        "passage": "search_document: ",
        "Classification": "classification: ",
        "MultilabelClassification": "classification: ",
        "Clustering": "clustering: ",
        "PairClassification": "classification: ",
        "STS": "classification: ",
        "Summarization": "classification: ",
        "Speed": "search_document: ",
    }


# --- what does not match ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "intfloat/e5-mistral-7b-instruct",  # not e5: an instruction model with its own template
        "intfloat/e5-base-v2-finetuned",
        "intfloat/multilingual-e5-large-instruct-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
        "BAAI/bge-large-zh-noinstruct",  # BGE v1's model trained without the instruction
        "BAAI/bge-en-icl",
        "BAAI/bge-multilingual-gemma2",
        "BAAI/bge-reranker-v2-m3",
        "BAAI/bge-m3-retromae",
        "nomic-ai/nomic-embed-code",
        "nomic-ai/nomic-embed-text-v1-unsupervised",
        "nomic-ai/nomic-embed-text-v2-moe-unsupervised",
        "Qwen/Qwen3-Embedding-0.6B-GGUF",
        "Qwen/Qwen3-Reranker-0.6B",
        "Qwen/Qwen3-0.6B",
        "Alibaba-NLP/gte-Qwen1.5-7B-instruct",
        "Alibaba-NLP/gte-large-en-v1.5",
        "thenlper/gte-large",
        "google/embeddinggemma-300m-qat-q4_0-unquantized",  # not checked against a source
        "google/gemma-3-270m",
        "Snowflake/snowflake-arctic-embed-s-v2.0",
        "Snowflake/snowflake-arctic-embed-m-v1.5-onnx",
        "mixedbread-ai/mxbai-embed-2d-large-v1",
        "mixedbread-ai/mxbai-embed-xsmall-v1",
        "/models/e5-small-v2/extra",  # only the last path component counts
        "e5-base-v2\n",
        "",
    ],
)
def test_models_without_a_known_family(model: str) -> None:
    assert match_family(model) is None
    assert family_prompt(model, "query") is None
    assert family_prompt(model, "document") is None
    assert family_prompts(model) is None


# --- the table ----------------------------------------------------------------------------------------

MATCHED = [
    "intfloat/e5-base-v2",
    "intfloat/multilingual-e5-small",
    "intfloat/multilingual-e5-large-instruct",
    "BAAI/bge-small-en",
    "BAAI/bge-base-zh-v1.5",
    "BAAI/bge-m3",
    "Qwen/Qwen3-Embedding-4B",
    "google/embeddinggemma-300m",
    "Alibaba-NLP/gte-Qwen2-7B-instruct",
    "Snowflake/snowflake-arctic-embed-m-long",
    "Snowflake/snowflake-arctic-embed-l-v2.0",
    "mixedbread-ai/mxbai-embed-large-v1",
    "nomic-ai/nomic-embed-text-v1.5",
    "nomic-ai/nomic-embed-text-v2-moe",
]


@pytest.mark.parametrize("model", MATCHED)
def test_each_name_matches_exactly_one_family(model: str) -> None:
    base = model.rsplit("/", 1)[-1].lower()
    assert [f.name for f in KNOWN_PROMPTS if f.pattern.fullmatch(base)] == [match_family(model).name]  # type: ignore[union-attr]


def test_every_family_is_tested() -> None:
    assert {match_family(model).name for model in MATCHED} == {f.name for f in KNOWN_PROMPTS}  # type: ignore[union-attr]


def test_registry_names_are_unique() -> None:
    names = [family.name for family in KNOWN_PROMPTS]
    assert len(names) == len(set(names))


def test_tasks_default_to_none_and_do_not_repeat_query_or_document() -> None:
    family = PromptFamily("x", KNOWN_PROMPTS[0].pattern, "q", "d")
    assert dict(family.tasks) == {}
    assert family.prompts() == {"query": "q", "document": "d"}
    for known in KNOWN_PROMPTS:
        assert not {"query", "document"} & set(known.tasks), known.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        family.query = "other"  # type: ignore[misc]


def test_family_tasks_are_read_only() -> None:
    family = match_family("google/embeddinggemma-300m")
    assert family is not None
    with pytest.raises(TypeError):
        family.tasks["Clustering"] = "changed"  # type: ignore[index]
    prompts = family_prompts("google/embeddinggemma-300m")
    assert prompts is not None
    prompts["Clustering"] = "a copy"
    assert family_prompts("google/embeddinggemma-300m") == EMBEDDINGGEMMA_PROMPTS


# --- saved prompts ----------------------------------------------------------------------------------


def test_saved_query_prompt() -> None:
    prompts = {"query": "Q: ", "document": "D: "}
    assert saved_prompt(prompts, None, "query") == "Q: "
    assert saved_prompt(prompts, None, "document") == "D: "


@pytest.mark.parametrize("name", ["document", "passage", "corpus"])
def test_saved_document_prompt_names(name: str) -> None:
    assert saved_prompt({name: "doc: ", "query": "q: "}, None, "document") == "doc: "


def test_saved_document_prompt_name_priority() -> None:
    prompts = {"corpus": "C", "passage": "P", "document": "D"}
    assert saved_prompt(prompts, None, "document") == "D"
    del prompts["document"]
    assert saved_prompt(prompts, None, "document") == "P"
    del prompts["passage"]
    assert saved_prompt(prompts, None, "document") == "C"


def test_empty_saved_prompts_are_ignored() -> None:
    prompts = {"query": "", "document": "", "passage": "passage: "}
    assert saved_prompt(prompts, None, "query") is None
    assert saved_prompt(prompts, None, "document") == "passage: "


def test_default_prompt_name_is_a_fallback() -> None:
    prompts = {"retrieval": "Retrieve: ", "query": "Q: "}
    assert saved_prompt(prompts, "retrieval", "document") == "Retrieve: "
    assert saved_prompt(prompts, "retrieval", "query") == "Q: "  # the side's own prompt first
    assert saved_prompt({"retrieval": ""}, "retrieval", "query") is None
    assert saved_prompt({}, "missing", "query") is None


def test_no_saved_prompts() -> None:
    assert saved_prompt({}, None, "query") is None
    assert saved_prompt({"classification": "C: "}, None, "document") is None


# --- precedence ---------------------------------------------------------------------------------------


def test_explicit_prompt_wins() -> None:
    assert (
        resolve_prompt(input_type="query", explicit="Mine: ", saved="Saved: ", model="intfloat/e5-base-v2")
        == "Mine: "
    )


def test_explicit_empty_prompt_disables() -> None:
    assert resolve_prompt(input_type="query", explicit="", saved="Saved: ", model="intfloat/e5-base-v2") == ""
    assert resolve_prompt(input_type="document", explicit="", saved=None, model="intfloat/e5-base-v2") == ""


def test_saved_prompt_beats_family() -> None:
    assert (
        resolve_prompt(input_type="query", explicit=None, saved="Saved: ", model="intfloat/e5-base-v2")
        == "Saved: "
    )


def test_family_when_nothing_saved() -> None:
    assert (
        resolve_prompt(input_type="query", explicit=None, saved=None, model="intfloat/e5-base-v2")
        == "query: "
    )
    assert (
        resolve_prompt(input_type="document", explicit=None, saved="", model="intfloat/e5-base-v2")
        == "passage: "
    )


def test_nothing_at_all() -> None:
    assert (
        resolve_prompt(
            input_type="query", explicit=None, saved=None, model="sentence-transformers/all-MiniLM-L6-v2"
        )
        == ""
    )
    assert resolve_prompt(input_type="document", explicit=None, saved=None, model=None) == ""
