"""Point huggingface_hub at a simulation, for the length of a ``with`` block or a test.

What huggingface_hub 1.33 reads, and when (checked in ``hf_api.py``, ``constants.py``, ``utils/_http.py``):

* every Inference Endpoints call builds its URL from ``constants.INFERENCE_ENDPOINTS_ENDPOINT`` at call
  time (``f"{constants.INFERENCE_ENDPOINTS_ENDPOINT}/endpoint/..."``), so patching the constant works;
* ``whoami`` (used to find the default namespace when ``namespace`` is None) calls
  ``f"{self.endpoint}/api/whoami-v2"``, where ``HfApi.endpoint`` is copied from ``constants.ENDPOINT``
  when the ``HfApi`` is created. The module-level functions (``huggingface_hub.whoami``,
  ``get_inference_endpoint``...) are bound methods of ``huggingface_hub.hf_api.api``, created at
  import, so its ``endpoint`` attribute is patched as well as ``constants.ENDPOINT`` (read by every
  ``HfApi()`` created later, e.g. in ``InferenceEndpoint.from_raw``);
* offline mode is ``constants.HF_HUB_OFFLINE``, read at request time by the session's event hook; the
  test suite sets ``HF_HUB_OFFLINE=1``, so it is switched off while the simulation (on loopback, and
  the only Hub host then) is in use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .harness import EndpointSim


def hub_targets(sim: EndpointSim) -> list[tuple[Any, str, Any]]:
    """``(object, attribute, value)`` triples that point huggingface_hub at ``sim``."""
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api

    if hf_api.constants is not constants:  # pragma: no cover - a layout change in huggingface_hub
        raise RuntimeError("huggingface_hub.hf_api no longer reads huggingface_hub.constants")
    return [
        (constants, "INFERENCE_ENDPOINTS_ENDPOINT", sim.api_url),
        (constants, "ENDPOINT", sim.url),
        (hf_api.api, "endpoint", sim.url),
        (constants, "HF_HUB_OFFLINE", False),
    ]


@contextmanager
def hub_pointed_at(sim: EndpointSim) -> Iterator[EndpointSim]:
    """Within the block, huggingface_hub's Inference Endpoints calls and ``whoami`` go to ``sim``.

    Example::

        with EndpointSim(upstream=tei) as sim, hub_pointed_at(sim):
            huggingface_hub.get_inference_endpoint("my-ep", token=SIM_TOKEN)
    """
    targets = hub_targets(sim)
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
    try:
        for obj, attr, value in targets:
            setattr(obj, attr, value)
        yield sim
    finally:
        for obj, attr, value in reversed(saved):
            setattr(obj, attr, value)
