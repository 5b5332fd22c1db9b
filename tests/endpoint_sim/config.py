"""Options of the Inference Endpoints simulation (:class:`SimConfig`) and its hardware catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

#: A token the simulation accepts in tests (any non-empty token is accepted unless ``tokens`` is set).
SIM_TOKEN = "hf_sim_token_0123456789"

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")

#: States of an endpoint, as ``huggingface_hub.InferenceEndpointStatus`` names them.
STATES = (
    "pending",
    "initializing",
    "updating",
    "updateFailed",
    "running",
    "paused",
    "failed",
    "scaledToZero",
)

#: States in which the data plane answers 503 (no replica ready yet).
STARTING_STATES = ("pending", "initializing", "updating")


@dataclass
class SimConfig:
    """Everything the simulation can be told. Durations are in seconds and small by default.

    All fields are read on every request ("live"): change them on a running simulation
    (``sim.config.scale_up_s = 2``) and the next transition uses the new value.
    """

    # --- timed transitions --------------------------------------------------------------------
    pending_s: float = 0.2
    """Create: time in ``pending`` before ``initializing``."""
    initializing_s: float = 0.2
    """Create: time in ``initializing`` before ``running`` (or ``failed``)."""
    updating_s: float = 0.2
    """Update (PUT): time in ``updating`` before ``running`` (or ``updateFailed``)."""
    resume_s: float = 0.2
    """Resume: time in ``initializing`` before ``running``."""
    scale_up_s: float = 0.2
    """A data-plane request to a ``scaledToZero`` endpoint: time in ``initializing`` before ``running``."""
    auto_scale_to_zero_s: float | None = None
    """A ``running`` endpoint with ``minReplica == 0`` goes ``scaledToZero`` after this many seconds
    without a data-plane request (the real service waits ``scaleToZeroTimeout`` minutes); ``None`` = never."""
    honor_scale_up_timeout: bool = True
    """``True``: a request with ``X-Scale-Up-Timeout: N`` to a starting endpoint is held up to N seconds
    until a replica is ready, then forwarded. ``False``: such requests get 503 at once, as without it."""
    max_hold_s: float = 600.0
    """Upper bound of a hold, whatever ``X-Scale-Up-Timeout`` asks for."""
    fail_deploys: bool = False
    """Every created endpoint ends in ``failed`` instead of ``running`` (also per endpoint: model env
    ``HFE_SIM_FAIL=deploy``)."""

    # --- identity and credentials -----------------------------------------------------------
    user: str = "sim-user"
    """The user ``/api/whoami-v2`` names, i.e. the default namespace of huggingface_hub."""
    orgs: tuple[str, ...] = ("sim-org",)
    """Organizations of the user: namespaces the token may use besides ``user``."""
    tokens: dict[str, str] | None = None
    """Accepted tokens, token -> user name; ``None`` accepts any non-empty bearer token as ``user``."""
    open_namespaces: bool = False
    """``True``: any namespace is accepted (no 401 for namespaces outside ``user`` and ``orgs``)."""

    # --- management API checks --------------------------------------------------------------
    check_hardware: bool = True
    """Refuse (400) a create or update whose vendor/region/accelerator/instance type/size is not in
    ``hardware``."""
    hardware: list[dict[str, Any]] = field(default_factory=lambda: default_hardware())
    """The ``/v2/provider/{namespace}`` catalogue (vendors -> regions -> computes)."""

    # --- data plane -------------------------------------------------------------------------
    paused_body: str = "Invalid state"
    """Plain-text body of the 400 a paused endpoint answers (the real format is undocumented)."""
    starting_body: str = "Service Unavailable"
    """Plain-text body of the 503 while no replica is ready (the real body is undocumented)."""

    # --- process ------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    shutdown_timeout_s: float = 0.5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for values the simulation cannot use."""
        if self.host not in LOOPBACK_HOSTS:
            raise ValueError(f"the simulation listens on loopback only, not {self.host!r}")
        for name in ("pending_s", "initializing_s", "updating_s", "resume_s", "scale_up_s", "max_hold_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.auto_scale_to_zero_s is not None and self.auto_scale_to_zero_s <= 0:
            raise ValueError("auto_scale_to_zero_s must be > 0 or None")

    def copy(self, **changes: Any) -> SimConfig:
        """A copy with ``changes`` applied (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown SimConfig option(s): {sorted(unknown)}")
        return replace(self, **changes)

    def user_of(self, token: str) -> str | None:
        """The user a bearer token belongs to, or ``None`` when it is refused."""
        if not token:
            return None
        if self.tokens is None:
            return self.user
        return self.tokens.get(token)


def _compute(
    vendor: str,
    region: str,
    accelerator: str,
    instance_type: str,
    size: int,
    architecture: str,
    price: float,
    *,
    cpus: int | None,
    memory_gb: float,
    gpu_memory_gb: int | None = None,
    status: str = "available",
    quota: int = 8,
) -> dict[str, Any]:
    compute: dict[str, Any] = {
        "id": f"{vendor}-{region}-{instance_type}-x{size}",
        "accelerator": accelerator,
        "numAccelerators": size,
        "memoryGb": memory_gb,
        "gpuMemoryGb": gpu_memory_gb,
        "instanceType": instance_type,
        "instanceSize": f"x{size}",
        "architecture": architecture,
        "status": status,
        "pricePerHour": price,
        "quota": {"maxAccelerators": quota, "usedAccelerators": 0},
    }
    if cpus is not None:
        compute["numCpus"] = cpus
    return compute


def default_hardware() -> list[dict[str, Any]]:
    """A small, plausible catalogue in the shape of ``GET /v2/provider/{namespace}``.

    The names follow the real service's conventions (``intel-spr``, ``nvidia-l4``, ``x1``...); the
    prices, sizes and quotas are made up for the simulation and are not the real catalogue.
    """

    def cpu(vendor: str, region: str, instance_type: str, label: str) -> list[dict[str, Any]]:
        return [
            _compute(
                vendor,
                region,
                "cpu",
                instance_type,
                n,
                label,
                round(0.033 * n, 3),
                cpus=None,
                memory_gb=2.0 * n,
                quota=60,
            )
            for n in (1, 2, 4, 8)
        ]

    def gpu(
        vendor: str,
        region: str,
        instance_type: str,
        label: str,
        price: float,
        gb: int,
        sizes: tuple[int, ...],
    ) -> list[dict[str, Any]]:
        return [
            _compute(
                vendor,
                region,
                "gpu",
                instance_type,
                n,
                label,
                round(price * n, 2),
                cpus=7 * n,
                memory_gb=30.0 * n,
                gpu_memory_gb=gb * n,
            )
            for n in sizes
        ]

    aws_east = [
        *cpu("aws", "us-east-1", "intel-spr", "Intel Sapphire Rapids"),
        *gpu("aws", "us-east-1", "nvidia-t4", "Nvidia T4", 0.5, 16, (1, 4)),
        *gpu("aws", "us-east-1", "nvidia-a10g", "Nvidia A10G", 1.0, 24, (1, 4)),
        *gpu("aws", "us-east-1", "nvidia-l4", "Nvidia L4", 0.8, 24, (1, 4)),
        *gpu("aws", "us-east-1", "nvidia-l40s", "Nvidia L40S", 1.8, 48, (1, 4, 8)),
        *gpu("aws", "us-east-1", "nvidia-a100", "Nvidia A100", 2.5, 80, (1, 2, 4, 8)),
        *gpu("aws", "us-east-1", "nvidia-h100", "Nvidia H100", 4.5, 80, (1, 2, 4, 8)),
    ]
    aws_west = [
        *cpu("aws", "eu-west-1", "intel-spr", "Intel Sapphire Rapids"),
        *gpu("aws", "eu-west-1", "nvidia-t4", "Nvidia T4", 0.5, 16, (1,)),
        *gpu("aws", "eu-west-1", "nvidia-l4", "Nvidia L4", 0.8, 24, (1,)),
    ]
    gcp = [
        *cpu("gcp", "us-east4", "intel-spr", "Intel Sapphire Rapids"),
        *gpu("gcp", "us-east4", "nvidia-l4", "Nvidia L4", 0.7, 24, (1, 4)),
        *gpu("gcp", "us-east4", "nvidia-h100", "Nvidia H100", 10.0, 80, (1,)),
    ]
    return [
        {
            "name": "aws",
            "status": "available",
            "regions": [
                {"name": "us-east-1", "label": "N. Virginia", "status": "available", "computes": aws_east},
                {"name": "eu-west-1", "label": "Ireland", "status": "available", "computes": aws_west},
            ],
        },
        {
            "name": "gcp",
            "status": "available",
            "regions": [{"name": "us-east4", "label": "Virginia", "status": "available", "computes": gcp}],
        },
    ]


def find_compute(
    hardware: list[dict[str, Any]], vendor: str, region: str, accelerator: str, instance_type: str, size: str
) -> dict[str, Any] | None:
    """The catalogue entry for that combination, or ``None``."""
    for v in hardware:
        if v["name"] != vendor:
            continue
        for r in v["regions"]:
            if r["name"] != region:
                continue
            for c in r["computes"]:
                if (c["accelerator"], c["instanceType"], c["instanceSize"]) == (
                    accelerator,
                    instance_type,
                    size,
                ):
                    return c
    return None
