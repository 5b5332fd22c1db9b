"""pytest fixtures for the Inference Endpoints simulation.

Use them from a test module with::

    pytest_plugins = ["tests.endpoint_sim.fixtures"]

* ``endpoint_sim``: a started :class:`EndpointSim` (default :class:`SimConfig`, short timings) in front
  of a shared TEI test server with hash vectors, with huggingface_hub pointed at it for the test.
* ``endpoint_sim_factory(upstream=None, **config)``: the same with options (``scale_up_s=1.0``,
  ``tokens={...}``, ``upstream=my_tei``...); each call starts one more simulation, and the last one
  created is where huggingface_hub points. All are stopped after the test.
* ``endpoint_sim_tei``: the shared TEI test server (``vectors="hash"``), session-scoped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.tei_server.harness import TEIServer

from .harness import EndpointSim
from .hub import hub_targets


@pytest.fixture(scope="session")
def endpoint_sim_tei() -> Iterator[TEIServer]:
    """A TEI test server with cheap hash vectors, shared by every simulation of the session."""
    with TEIServer(vectors="hash", slots=2) as server:
        yield server


@pytest.fixture
def endpoint_sim_factory(
    endpoint_sim_tei: TEIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., EndpointSim]]:
    """Start simulations on demand; huggingface_hub points at the latest one until the test ends."""
    started: list[EndpointSim] = []

    def make(*, upstream: Any = None, **config: Any) -> EndpointSim:
        sim = EndpointSim(upstream=upstream if upstream is not None else endpoint_sim_tei, **config).start()
        started.append(sim)
        for obj, attr, value in hub_targets(sim):
            monkeypatch.setattr(obj, attr, value)
        return sim

    try:
        yield make
    finally:
        for sim in reversed(started):
            sim.stop()


@pytest.fixture
def endpoint_sim(endpoint_sim_factory: Callable[..., EndpointSim]) -> EndpointSim:
    """A started simulation with default options, huggingface_hub pointed at it."""
    return endpoint_sim_factory()
