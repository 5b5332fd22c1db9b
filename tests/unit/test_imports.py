"""Importing the core loads no framework and no torch; the public names are exactly __all__."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import hfe_core

HEAVY = ("langchain", "llama_index", "sentence_transformers", "torch", "transformers")

_PROBE = textwrap.dedent(
    """
    import json, sys
    HEAVY = {heavy!r}

    def heavy():
        return sorted(name for name in sys.modules if name.startswith(HEAVY))

    state = {{}}
    import hfe_core
    state["import"] = heavy()
    embedder = hfe_core.Embedder()
    state["construct"] = heavy()
    state["handle_is_none"] = embedder.backend._handle is None
    state["mode"] = embedder.settings.mode
    print(json.dumps(state))
    """
)


def _clean_env(home: Path) -> dict[str, str]:
    from hfe_core.auth import TOKEN_ENV_VARS

    env = {k: v for k, v in os.environ.items() if not k.startswith("HFE_") and k not in TOKEN_ENV_VARS}
    env.update(HF_HOME=str(home), HF_TOKEN_PATH=str(home / "token"), HF_HUB_OFFLINE="1")
    return env


def test_core_import_and_construction_load_nothing_heavy(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        cwd=Path(hfe_core.__file__).parent.parent,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["import"] == []
    assert state["construct"] == []
    assert state["handle_is_none"] is True
    assert state["mode"] == "local"


def _own_public_names(package: types.ModuleType) -> set[str]:
    """Public names a package defines or re-exports from its own modules (not typing helpers)."""
    root = package.__name__
    submodules = [
        module
        for name, module in sys.modules.items()
        if (name == root or name.startswith(root + ".")) and module is not None
    ]
    names = set()
    for name, obj in vars(package).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        defined_here = getattr(obj, "__module__", "") or ""
        if isinstance(defined_here, str) and (defined_here == root or defined_here.startswith(root + ".")):
            names.add(name)
            continue
        # Type aliases (Literal[...]) carry typing's __module__: accept those exported by a submodule.
        if any(
            name in getattr(module, "__all__", ()) and getattr(module, name, None) is obj
            for module in submodules
        ):
            names.add(name)
    return names


def test_hfe_core_all_is_exactly_the_public_api() -> None:
    assert len(hfe_core.__all__) == len(set(hfe_core.__all__))
    for name in hfe_core.__all__:
        assert hasattr(hfe_core, name), name
    assert sorted(hfe_core.__all__) == sorted(_own_public_names(hfe_core) | {"__version__"})


def test_hfe_core_all_contents() -> None:
    expected = {
        "Embedder",
        "EmbedderSettings",
        "EmbeddingResult",
        "EmbeddingStats",
        "InputType",
        "JobSummary",
        "Mode",
        "Rank",
        "Reranker",
        "RerankerSettings",
        "SparseEmbedder",
        "SparseEmbedderSettings",
        "SparseVector",
        "Truncation",
        "deploy_endpoint",
        "embed_file",
        "embed_stream",
        "from_config",
        "settings_from_config",
        "__version__",
    }
    from hfe_core import errors

    assert set(hfe_core.__all__) == expected | set(errors.__all__)
    assert isinstance(hfe_core.__version__, str) and hfe_core.__version__


@pytest.mark.parametrize(
    ("package", "names"),
    [
        # hfe's own adapter, and the drop-ins named like the peers they replace (issue 12).
        (
            "langchain_hfe",
            [
                "HFEmbeddings",
                "HFReranker",
                "HFSparseEmbeddings",
                "HuggingFaceEmbeddings",
                "HuggingFaceEndpointEmbeddings",
            ],
        ),
        (
            "llamaindex_hfe",
            [
                "HFEmbedding",
                "HFRerank",
                "HFSparseEmbedding",
                "HuggingFaceEmbedding",
                "HuggingFaceInferenceAPIEmbedding",
                "TextEmbeddingsInference",
            ],
        ),
    ],
)
def test_adapter_all(package: str, names: list[str]) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == names
    for name in names:  # a name imported on first use (langchain_hfe.HFSparseEmbeddings) is then in vars()
        getattr(module, name)
    assert sorted(_own_public_names(module)) == names
    for name in names:
        cls = getattr(module, name)
        assert inspect.isclass(cls)
        assert issubclass(cls, hfe_core.EmbedderSettings)
