"""Every public class and function has a Google-style docstring with an example (issue 6).

The public API is what the packages list in ``__all__``: ``hfe_core``, the two adapters, and the
modules a notebook imports from (``hfe_core.job``, ``hfe_core.ray``, ``hfe_core.integrations.mem0``,
``hfe_core.deploy``). Exceptions are documented by the error tree in the README and by their own
one-line docstrings; constants and type aliases (``Literal``) have no docstring of their own.
"""

from __future__ import annotations

import importlib
import inspect
import pydoc
import re
from types import ModuleType
from typing import Any

import pytest

MODULES = (
    "hfe_core",
    "langchain_hfe",
    "llamaindex_hfe",
    "hfe_core.job",
    "hfe_core.ray",
    "hfe_core.integrations.mem0",
    "hfe_core.deploy",
    "hfe_core.precision",
)

#: Public methods that a user calls first: their docstrings need an example too.
MAIN_METHODS = {
    "hfe_core.Embedder": ("embed", "aembed", "embed_documents", "embed_query", "embed_memory"),
    "langchain_hfe.HFEmbeddings": (
        "embed_documents",
        "embed_query",
        "aembed_documents",
        "aembed_query",
        "from_config",
    ),
    # get_text_embedding / get_query_embedding are LlamaIndex's own, documented by LlamaIndex.
    "llamaindex_hfe.HFEmbedding": ("get_text_embedding_batch", "from_config"),
}

_EXAMPLE = re.compile(r"^\s*(Example|Examples):\s*$|^\s*>>> ", re.MULTILINE)


def _has_example(doc: str | None) -> bool:
    return doc is not None and _EXAMPLE.search(doc) is not None


def _public_objects() -> list[tuple[str, Any]]:
    seen: set[int] = set()
    found: list[tuple[str, Any]] = []
    for module_name in MODULES:
        module: ModuleType = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants, __version__, Literal aliases
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append((f"{module_name}.{name}", obj))
    return found


PUBLIC = _public_objects()


def _own_public_methods(cls: type) -> list[tuple[str, Any]]:
    methods: list[tuple[str, Any]] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if inspect.isfunction(function):
            methods.append((name, function))
        elif isinstance(value, property):
            methods.append((name, value))
    return methods


def test_the_public_api_is_not_empty() -> None:
    names = {name for name, _ in PUBLIC}
    assert "hfe_core.Embedder" in names
    assert "langchain_hfe.HFEmbeddings" in names
    assert "llamaindex_hfe.HFEmbedding" in names
    assert "hfe_core.ray.RayEngine" in names
    assert "hfe_core.integrations.mem0.enable" in names


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_object_has_a_docstring_with_an_example(name: str, obj: Any) -> None:
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip(), f"{name}: the docstring must start with a one-line summary"
    assert _has_example(obj.__doc__), f"{name}: the docstring has no 'Example:' section or '>>>' line"


@pytest.mark.parametrize("class_name", sorted(MAIN_METHODS))
def test_public_methods_have_docstrings(class_name: str) -> None:
    module_name, _, attribute = class_name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), attribute)
    missing = [name for name, method in _own_public_methods(cls) if not (method.__doc__ or "").strip()]
    assert not missing, f"{class_name}: public methods without a docstring: {missing}"
    no_example = [name for name in MAIN_METHODS[class_name] if not _has_example(getattr(cls, name).__doc__)]
    assert not no_example, f"{class_name}: main methods without an example: {no_example}"


@pytest.mark.parametrize(
    "class_name", ["langchain_hfe.HFEmbeddings", "llamaindex_hfe.HFEmbedding", "hfe_core.Embedder"]
)
def test_help_starts_with_the_summary_and_an_example(class_name: str) -> None:
    module_name, _, attribute = class_name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), attribute)
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    summary = inspect.getdoc(cls).splitlines()[0]  # type: ignore[union-attr]
    lines = text.splitlines()
    head = "\n".join(lines[:40])
    assert summary in head, f"help({attribute}) does not open with its summary"
    assert "Example" in head or ">>>" in head, f"help({attribute}) shows no example near the top"
    # pydantic's class attributes (__pydantic_fields__...) come only after the class docstring
    # and the methods, never before them.
    methods_at = text.index("Methods defined here:") if "Methods defined here:" in text else len(text)
    before_methods = text[:methods_at]
    assert "__pydantic" not in before_methods
    assert "_abc_impl" not in before_methods


@pytest.mark.parametrize(
    "module_name", ["hfe_core.adapter", "hfe_core.compat", "hfe_core.deploy", "hfe_core.job"]
)
def test_examples_that_need_no_model_or_server_run(module_name: str) -> None:
    """The examples not marked ``# doctest: +SKIP`` in these modules run as written."""
    import doctest

    module = importlib.import_module(module_name)
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0 and results.failed == 0
