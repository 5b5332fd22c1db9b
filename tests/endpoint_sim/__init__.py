"""A loopback SIMULATION of the Hugging Face Inference Endpoints service, for tests (not a recording).

It imitates, from the protocol notes (``tei-and-hf-protocols.md`` C.7 and C.8) and huggingface_hub
1.33's own code, the management API that ``huggingface_hub`` calls (create, get, list, update, pause,
resume, scale-to-zero, delete, hardware catalogue, whoami) with timed state transitions, and the
data plane of each endpoint: a proxy to a TEI test server that answers 503 while a replica starts
(or holds the request under ``X-Scale-Up-Timeout``) and 400 ``Invalid state`` while paused.
See ``README.md`` beside this file. Typical use::

    from tests.endpoint_sim import SIM_TOKEN, EndpointSim, hub_pointed_at

    with EndpointSim(upstream=tei_server) as sim, hub_pointed_at(sim):
        ep = huggingface_hub.get_inference_endpoint("my-ep", token=SIM_TOKEN)

In pytest: ``pytest_plugins = ["tests.endpoint_sim.fixtures"]``, then the ``endpoint_sim`` fixture.
"""

from __future__ import annotations

from .app import SimRequest
from .config import SIM_TOKEN, STATES, SimConfig, default_hardware
from .harness import ColdStartProxy, EndpointSim, tei_payload
from .hub import hub_pointed_at, hub_targets
from .state import FAIL_ENV, SimEndpoint

__all__ = [
    "FAIL_ENV",
    "SIM_TOKEN",
    "STATES",
    "ColdStartProxy",
    "EndpointSim",
    "SimConfig",
    "SimEndpoint",
    "SimRequest",
    "default_hardware",
    "hub_pointed_at",
    "hub_targets",
    "tei_payload",
]
