"""Facts about other projects that the repository states, checked against the installed packages (issue 14).

They go stale as those projects move: a provider that no longer serves feature extraction, a
dependency floor below what sentence-transformers requires.
"""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def test_every_provider_named_in_the_readme_serves_feature_extraction() -> None:
    from huggingface_hub.inference._providers import PROVIDERS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r'provider="([a-z0-9-]+)"', readme)) - {"auto"}
    assert named, "the README shows no provider example any more"
    for provider in named:
        assert "feature-extraction" in PROVIDERS.get(provider, {}), (  # type: ignore[call-overload]
            f"huggingface_hub has no feature-extraction for provider={provider!r} (README)"
        )


def _floor(requirement: Requirement) -> Version:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    assert floors, f"{requirement} has no lower bound"
    return max(floors)


def test_the_huggingface_hub_floor_is_what_sentence_transformers_needs() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    ours = Requirement(re.findall(r'^\s*"(huggingface_hub[^"]*)"', pyproject, re.MULTILINE)[0])
    theirs = next(
        Requirement(r)
        for r in requires("sentence-transformers") or []
        if Requirement(r).name.replace("_", "-") == "huggingface-hub" and not Requirement(r).marker
    )
    assert _floor(ours) >= _floor(theirs), f"pyproject has {ours}, sentence-transformers needs {theirs}"
