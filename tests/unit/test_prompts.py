"""Prompt registry and precedence: explicit > saved with the model > known family > none."""

from __future__ import annotations

import pytest

from hfe_core.prompts import KNOWN_PROMPTS, family_prompt, resolve_prompt, saved_prompt

BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "


@pytest.mark.parametrize(
    "model",
    [
        "intfloat/e5-base-v2",
        "intfloat/e5-small-v2",
        "intfloat/e5-large",
        "intfloat/multilingual-e5-large",
        "intfloat/multilingual-e5-small",
        "INTFLOAT/E5-BASE-V2",
        "/models/e5-small-v2",
        "/models/e5-small-v2/",
        "./checkpoints/multilingual-e5-base",
        "e5-base-v2",
    ],
)
def test_e5_family(model: str) -> None:
    assert family_prompt(model, "query") == "query: "
    assert family_prompt(model, "document") == "passage: "


@pytest.mark.parametrize(
    "model",
    [
        "intfloat/e5-mistral-7b-instruct",
        "intfloat/multilingual-e5-large-instruct",
        "sentence-transformers/all-MiniLM-L6-v2",
        "BAAI/bge-m3",
        "BAAI/bge-small-en",  # v1 has a different instruction
        "nomic-ai/nomic-embed-code",
        "/models/e5-small-v2/extra",  # only the last path component counts
        "",
    ],
)
def test_models_without_a_known_family(model: str) -> None:
    assert family_prompt(model, "query") is None
    assert family_prompt(model, "document") is None


@pytest.mark.parametrize("size", ["small", "base", "large"])
def test_bge_en_v15(size: str) -> None:
    model = f"BAAI/bge-{size}-en-v1.5"
    assert family_prompt(model, "query") == BGE_EN_QUERY
    assert family_prompt(model, "document") == ""


def test_bge_zh_v15() -> None:
    query = family_prompt("BAAI/bge-small-zh-v1.5", "query")
    assert query is not None and query.startswith("为这个句子")
    assert family_prompt("BAAI/bge-small-zh-v1.5", "document") == ""


@pytest.mark.parametrize(
    "model", ["nomic-ai/nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1", "nomic-embed-text"]
)
def test_nomic(model: str) -> None:
    assert family_prompt(model, "query") == "search_query: "
    assert family_prompt(model, "document") == "search_document: "


def test_registry_names_are_unique() -> None:
    names = [family.name for family in KNOWN_PROMPTS]
    assert len(names) == len(set(names))


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
