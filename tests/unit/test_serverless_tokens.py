"""Which token the serverless backend hands huggingface_hub for an Inference Provider (issue 11).

huggingface_hub sends a token that starts with ``hf_`` through Hugging Face's router and any other
token straight to the provider, as that provider's key. A token hfe found in the environment or the
stored login may only go to Hugging Face, so a non-``hf_`` one must not be handed over.
"""

from __future__ import annotations

import pytest

from hfe_core import Embedder


@pytest.mark.parametrize(
    ("variable", "value", "sent"),
    [
        ("HF_TOKEN", "hf_FromTheEnvironment123", True),
        ("HF_TOKEN", "sk-provider-key-from-env", False),
        ("HUGGINGFACE_API_KEY", "sk-mem0-style-provider-key", False),
    ],
)
def test_an_environment_token_reaches_a_provider_only_through_hugging_face(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, sent: bool
) -> None:
    monkeypatch.setenv(variable, value)
    backend = Embedder(mode="endpoint", model="org/model", provider="nebius").backend
    assert (backend._token == value) is sent  # type: ignore[attr-defined]
    assert backend._client_kwargs()["token"] == (value if sent else None)  # type: ignore[attr-defined]


def test_an_explicit_provider_key_is_passed_as_given() -> None:
    backend = Embedder(mode="endpoint", model="org/model", provider="nebius", token="sk-explicit").backend
    assert backend._client_kwargs()["token"] == "sk-explicit"  # type: ignore[attr-defined]
