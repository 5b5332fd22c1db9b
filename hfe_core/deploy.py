"""Deploy a model on a Hugging Face Inference Endpoint running Text Embeddings Inference (TEI).

:func:`deploy_endpoint` creates the endpoint through ``huggingface_hub``, waits until it runs and
returns an :class:`~hfe_core.embedder.Embedder` in ``endpoint`` mode for it::

    from hfe_core import deploy_endpoint

    embedder = deploy_endpoint("sentence-transformers/all-MiniLM-L6-v2")  # CPU, scales to zero
    embedder.embed_documents(["Paris is the capital of France."])

The defaults make a small CPU deployment that costs nothing while idle:

* ``vendor="aws"``, ``region="us-east-1"``, ``accelerator="cpu"``, ``instance_type="intel-spr"``
  (Intel Sapphire Rapids), ``instance_size="x2"``: enough for small embedding models such as
  all-MiniLM-L6-v2 or bge-small; ``list_hardware()`` (``hfe endpoint list-hardware``) lists the others.
* ``min_replica=0``, ``max_replica=1``, ``scale_to_zero_timeout=15`` (minutes): the endpoint scales to
  zero after 15 idle minutes; the next request starts it again (endpoint mode rides out the cold start
  with ``X-Scale-Up-Timeout`` and retries).
* ``endpoint_type="authenticated"``: any Hugging Face token of the namespace may call it.
* the TEI image for the hardware (:func:`tei_image`), version ``1.9``, with TEI's own default limits
  (``max_batch_tokens=16384``, ``max_concurrent_requests=512``; ``max_client_batch_size`` stays TEI's
  32 unless given), sent both in the image settings and as TEI environment variables.

The other functions manage an existing endpoint: :func:`endpoint_status`, :func:`pause_endpoint`,
:func:`resume_endpoint`, :func:`scale_endpoint_to_zero`, :func:`delete_endpoint`, and
:func:`list_hardware`. Errors from ``huggingface_hub`` become hfe's typed errors (401/403 ->
:class:`~hfe_core.errors.AuthenticationError`, 404 -> :class:`~hfe_core.errors.NotFoundError`, ...).
The token never appears in a message, a log line or a ``repr``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from hfe_core.auth import resolve_token
from hfe_core.errors import (
    AuthenticationError,
    ConfigurationError,
    EndpointFailedError,
    EndpointNotReadyError,
    HfeError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)

if TYPE_CHECKING:
    from hfe_core.embedder import Embedder

__all__ = [
    "DEFAULT_TEI_VERSION",
    "EndpointStatus",
    "HardwareOption",
    "TEI_IMAGE_REPOSITORY",
    "create_endpoint",
    "default_endpoint_name",
    "delete_endpoint",
    "deploy_endpoint",
    "endpoint_arguments",
    "endpoint_status",
    "list_hardware",
    "pause_endpoint",
    "resume_endpoint",
    "scale_endpoint_to_zero",
    "tei_image",
]

logger = logging.getLogger("hfe")

#: Where the TEI images live.
TEI_IMAGE_REPOSITORY = "ghcr.io/huggingface/text-embeddings-inference"
#: The TEI release deployed by default.
DEFAULT_TEI_VERSION = "1.9"

#: GPU instance types as Inference Endpoints names them -> the prefix of the TEI image tag.
_GPU_TAG_PREFIXES: dict[str, str] = {
    "nvidia-t4": "turing-",  # Turing (sm 7.5)
    "nvidia-a100": "",  # Ampere 8.0: the plain version tag
    "nvidia-a10": "86-",  # Ampere 8.6
    "nvidia-a10g": "86-",
    "nvidia-l4": "89-",  # Ada Lovelace 8.9
    "nvidia-l40": "89-",
    "nvidia-l40s": "89-",
    "nvidia-h100": "hopper-",  # Hopper 9.0
    "nvidia-h200": "hopper-",
    "nvidia-b200": "100-",  # Blackwell 10.0 (data centre)
    "nvidia-gb200": "100-",
    "nvidia-rtx-pro-6000": "120-",  # Blackwell 12.0 (workstation)
}
#: Markers of arm64 CPU instance types (AWS Graviton, Google Axion, Ampere Altra).
_ARM_MARKERS = ("graviton", "arm64", "axion", "ampere-altra")

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_MODEL_RE = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")
_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?$")
_SIZE_RE = re.compile(r"^x[1-9]\d*$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENDPOINT_TYPES = ("public", "authenticated", "private")
#: Environment variables that would put a credential in plain text in the endpoint's configuration.
_SECRET_ENV = ("HF_TOKEN", "HF_API_TOKEN", "HUGGING_FACE_HUB_TOKEN", "API_KEY")
_MAX_NAME = 32


# -- images and arguments ------------------------------------------------------------------------


def tei_image(
    accelerator: str, instance_type: str, *, tei_version: str = DEFAULT_TEI_VERSION, grpc: bool = False
) -> str:
    """The TEI container image built for a piece of Inference Endpoints hardware.

    Args:
        accelerator: ``"cpu"`` or ``"gpu"``, as Inference Endpoints names it.
        instance_type: the instance type, e.g. ``"intel-spr"``, ``"nvidia-t4"``, ``"nvidia-l4"``,
            ``"nvidia-a10g"``, ``"nvidia-a100"``, ``"nvidia-h100"``, ``"aws-graviton3"``.
        tei_version: the TEI release, ``"1.9"`` or ``"1.9.3"``.
        grpc: the gRPC build (``-grpc`` tags) instead of the HTTP one.

    Returns:
        The image, e.g. ``"ghcr.io/huggingface/text-embeddings-inference:89-1.9"`` for an L4. CPU
        instance types are x86 (``cpu-``) unless their name says arm64 (Graviton: ``cpu-arm64-``).

    Raises:
        ConfigurationError: an unknown GPU type, an accelerator without TEI images, a GPU type with
            ``accelerator="cpu"`` (or the reverse), or a malformed version. Pass ``image=`` to
            :func:`deploy_endpoint` to choose the image yourself.

    Example:
        >>> tei_image("gpu", "nvidia-t4")
        'ghcr.io/huggingface/text-embeddings-inference:turing-1.9'
        >>> tei_image("cpu", "intel-spr", tei_version="1.9.3")
        'ghcr.io/huggingface/text-embeddings-inference:cpu-1.9.3'
    """
    version = str(tei_version).strip()
    if not _VERSION_RE.match(version):
        raise ConfigurationError(
            f"tei_version={tei_version!r} is not a TEI release; give one such as '1.9' or '1.9.3'."
        )
    kind = str(accelerator).strip().lower()
    itype = str(instance_type).strip().lower()
    if not itype:
        raise ConfigurationError("instance_type is empty; give one such as 'intel-spr' or 'nvidia-l4'.")
    if kind == "cpu":
        if itype in _GPU_TAG_PREFIXES or itype.startswith("nvidia-"):
            raise ConfigurationError(
                f"instance_type={instance_type!r} is a GPU but accelerator='cpu'; pass accelerator='gpu'."
            )
        prefix = "cpu-arm64-" if any(marker in itype for marker in _ARM_MARKERS) else "cpu-"
    elif kind == "gpu":
        if itype not in _GPU_TAG_PREFIXES:
            known = ", ".join(sorted(_GPU_TAG_PREFIXES))
            hint = (
                " It looks like a CPU type: pass accelerator='cpu'."
                if not itype.startswith("nvidia-")
                else ""
            )
            raise ConfigurationError(
                f"No TEI image is known for the GPU instance type {instance_type!r}.{hint} Known GPU types: "
                f"{known}. Pass image='{TEI_IMAGE_REPOSITORY}:<tag>' to choose the image yourself."
            )
        prefix = _GPU_TAG_PREFIXES[itype]
    else:
        raise ConfigurationError(
            f"accelerator={accelerator!r} has no TEI image; TEI runs on 'cpu' and 'gpu'. Pass "
            f"image='{TEI_IMAGE_REPOSITORY}:<tag>' to choose the image yourself."
        )
    return f"{TEI_IMAGE_REPOSITORY}:{prefix}{version}{'-grpc' if grpc else ''}"


def default_endpoint_name(model: str) -> str:
    """A valid Inference Endpoints name derived from a model id.

    The name is the model's part after the ``/``, lowercased, with every run of characters other
    than ``a-z``, ``0-9`` turned into ``-``. Names over 32 characters are cut and end with 4 hex
    digits of the model id's hash, so two long ids rarely collide.

    Example:
        >>> default_endpoint_name("sentence-transformers/all-MiniLM-L6-v2")
        'all-minilm-l6-v2'
        >>> default_endpoint_name("BAAI/bge_small.en v1.5")
        'bge-small-en-v1-5'
    """
    base = model.rsplit("/", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9]+", "-", base).strip("-") or "embeddings"
    if len(name) > _MAX_NAME:
        digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:4]
        name = name[: _MAX_NAME - 5].rstrip("-") + "-" + digest
    return name


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ConfigurationError(
            f"name={name!r} is not a valid Inference Endpoint name: use at most {_MAX_NAME} characters, "
            "lowercase letters, digits and '-', starting and ending with a letter or a digit "
            f"(e.g. {default_endpoint_name(name)!r})."
        )
    return name


def _positive(name: str, value: int | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name}={value!r} must be a whole number >= 1.")


def _env(
    user_env: Mapping[str, Any] | None, managed: dict[str, str], arguments: dict[str, str]
) -> dict[str, str]:
    """The container env: the TEI limits hfe manages, then the caller's variables."""
    env = dict(managed)
    for key, value in (user_env or {}).items():
        if not isinstance(key, str) or not _ENV_KEY_RE.match(key):
            raise ConfigurationError(f"env key {key!r} is not a valid environment variable name.")
        if key.upper() in _SECRET_ENV:
            raise ConfigurationError(
                f"env={key!r} would store a credential in plain text in the endpoint's configuration; "
                "leave it out (the endpoint's own access control uses your Hugging Face token)."
            )
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            raise ConfigurationError(f"env[{key!r}] must be a string, got {type(value).__name__}.")
        if key in managed and managed[key] != text:
            raise ConfigurationError(
                f"env[{key!r}]={text!r} conflicts with {arguments[key]}={managed[key]!r}; "
                f"set {arguments[key]} instead."
            )
        env[key] = text
    return env


def endpoint_arguments(
    model: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    vendor: str = "aws",
    region: str = "us-east-1",
    accelerator: str = "cpu",
    instance_type: str = "intel-spr",
    instance_size: str = "x2",
    min_replica: int = 0,
    max_replica: int = 1,
    scale_to_zero_timeout: int | None = 15,
    max_batch_tokens: int = 16384,
    max_concurrent_requests: int = 512,
    max_client_batch_size: int | None = None,
    max_batch_requests: int | None = None,
    auto_truncate: bool | None = None,
    revision: str | None = None,
    endpoint_type: str = "authenticated",
    image: str | None = None,
    env: Mapping[str, Any] | None = None,
    tei_version: str = DEFAULT_TEI_VERSION,
) -> dict[str, Any]:
    """The keyword arguments of ``huggingface_hub.create_inference_endpoint`` for a TEI deployment.

    Nothing is sent; the result can be inspected, changed, and passed on as
    ``create_inference_endpoint(**arguments)``.

    Args:
        model: the model repository, e.g. ``"BAAI/bge-small-en-v1.5"``.
        name: the endpoint name (default: :func:`default_endpoint_name` of ``model``).
        namespace: the user or organization that owns it (default: the token's user).
        vendor: the cloud, ``"aws"`` (default), ``"gcp"``, ``"azure"``.
        region: the region, default ``"us-east-1"``.
        accelerator: ``"cpu"`` (default) or ``"gpu"``.
        instance_type: default ``"intel-spr"``; e.g. ``"nvidia-t4"``, ``"nvidia-l4"``, ``"nvidia-a10g"``.
        instance_size: ``"x1"``, ``"x2"`` (default), ``"x4"``, ``"x8"``.
        min_replica: replicas always up; 0 (default) lets the endpoint scale to zero.
        max_replica: the autoscaling ceiling (default 1).
        scale_to_zero_timeout: idle minutes before scaling to zero (default 15); used with
            ``min_replica=0`` only.
        max_batch_tokens: TEI's ``MAX_BATCH_TOKENS`` (default 16384, TEI's own).
        max_concurrent_requests: TEI's ``MAX_CONCURRENT_REQUESTS`` (default 512, TEI's own).
        max_client_batch_size: TEI's ``MAX_CLIENT_BATCH_SIZE`` (inputs per request; TEI's default 32).
        max_batch_requests: TEI's ``MAX_BATCH_REQUESTS`` (requests per server batch; no limit by default).
        auto_truncate: TEI's ``AUTO_TRUNCATE`` (TEI 1.9 truncates by default).
        revision: the model revision (default: the repository's main branch).
        endpoint_type: ``"authenticated"`` (default: a Hugging Face token of the namespace),
            ``"public"`` or ``"private"``.
        image: a TEI image to run instead of :func:`tei_image`'s choice.
        env: more TEI environment variables (strings; those above must go through their arguments).
        tei_version: the TEI release of the chosen image (default ``"1.9"``).

    Returns:
        The keyword arguments, including ``framework="pytorch"``, ``task="sentence-embeddings"`` and
        ``custom_image={"tei": {...}}``.

    Raises:
        ConfigurationError: a value Inference Endpoints or TEI would refuse; the message names it.

    Example:
        >>> args = endpoint_arguments("BAAI/bge-small-en-v1.5", accelerator="gpu", instance_type="nvidia-l4",
        ...                           instance_size="x1")
        >>> args["custom_image"]["tei"]["url"]
        'ghcr.io/huggingface/text-embeddings-inference:89-1.9'
    """
    model = str(model).strip()
    if not model or not _MODEL_RE.match(model):
        raise ConfigurationError(
            f"model={model!r} is not a Hugging Face model id; give one such as 'BAAI/bge-small-en-v1.5'."
        )
    endpoint_name = _check_name(name if name is not None else default_endpoint_name(model))
    for label, value in (("vendor", vendor), ("region", region), ("instance_type", instance_type)):
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise ConfigurationError(f"{label}={value!r} must be a non-empty name without spaces.")
    if namespace is not None and (not namespace.strip() or "/" in namespace):
        raise ConfigurationError(f"namespace={namespace!r} must be a user or organization name.")
    if not isinstance(instance_size, str) or not _SIZE_RE.match(instance_size):
        raise ConfigurationError(f"instance_size={instance_size!r} must look like 'x1', 'x2', 'x4' or 'x8'.")
    if isinstance(min_replica, bool) or not isinstance(min_replica, int) or min_replica < 0:
        raise ConfigurationError(f"min_replica={min_replica!r} must be a whole number >= 0.")
    _positive("max_replica", max_replica, allow_none=False)
    if max_replica < min_replica:
        raise ConfigurationError(f"max_replica={max_replica} must be >= min_replica={min_replica}.")
    if min_replica == 0:
        if scale_to_zero_timeout is None:
            raise ConfigurationError(
                "min_replica=0 needs scale_to_zero_timeout (idle minutes before scaling to zero, e.g. 15); "
                "or pass min_replica=1 to keep a replica up."
            )
        _positive("scale_to_zero_timeout", scale_to_zero_timeout)
    for label, number in (
        ("max_batch_tokens", max_batch_tokens),
        ("max_concurrent_requests", max_concurrent_requests),
        ("max_client_batch_size", max_client_batch_size),
        ("max_batch_requests", max_batch_requests),
    ):
        _positive(label, number, allow_none=label in ("max_client_batch_size", "max_batch_requests"))
    if endpoint_type == "protected":
        raise ConfigurationError(
            "endpoint_type='protected' is deprecated; use 'authenticated' (the same access)."
        )
    if endpoint_type not in _ENDPOINT_TYPES:
        raise ConfigurationError(
            f"endpoint_type={endpoint_type!r} must be one of {', '.join(_ENDPOINT_TYPES)}."
        )
    if image is not None:
        image = image.strip()
        if not image or any(ch.isspace() for ch in image):
            raise ConfigurationError(
                f"image={image!r} must be a container image such as '{TEI_IMAGE_REPOSITORY}:1.9'."
            )
        image_url = image
    else:
        image_url = tei_image(accelerator, instance_type, tei_version=tei_version)
    if revision is not None and not revision.strip():
        raise ConfigurationError("revision is empty; leave it out for the main branch.")

    managed = {
        "MAX_BATCH_TOKENS": str(max_batch_tokens),
        "MAX_CONCURRENT_REQUESTS": str(max_concurrent_requests),
    }
    arguments = {"MAX_BATCH_TOKENS": "max_batch_tokens", "MAX_CONCURRENT_REQUESTS": "max_concurrent_requests"}
    if max_client_batch_size is not None:
        managed["MAX_CLIENT_BATCH_SIZE"] = str(max_client_batch_size)
        arguments["MAX_CLIENT_BATCH_SIZE"] = "max_client_batch_size"
    if max_batch_requests is not None:
        managed["MAX_BATCH_REQUESTS"] = str(max_batch_requests)
        arguments["MAX_BATCH_REQUESTS"] = "max_batch_requests"
    if auto_truncate is not None:
        managed["AUTO_TRUNCATE"] = "true" if auto_truncate else "false"
        arguments["AUTO_TRUNCATE"] = "auto_truncate"

    return {
        "name": endpoint_name,
        "namespace": namespace,
        "repository": model,
        "revision": revision,
        "framework": "pytorch",
        "task": "sentence-embeddings",
        "vendor": vendor,
        "region": region,
        "accelerator": str(accelerator).strip().lower(),
        "instance_type": instance_type,
        "instance_size": instance_size,
        "min_replica": min_replica,
        "max_replica": max_replica,
        "scale_to_zero_timeout": scale_to_zero_timeout if min_replica == 0 else None,
        "type": endpoint_type,
        "custom_image": {
            "tei": {
                "url": image_url,
                "healthRoute": "/health",
                "port": 80,
                "maxBatchTokens": max_batch_tokens,
                "maxConcurrentRequests": max_concurrent_requests,
            }
        },
        "env": _env(env, managed, arguments),
    }


# -- what the management functions return --------------------------------------------------------


@dataclass(frozen=True)
class EndpointStatus:
    """An Inference Endpoint as the management API describes it (no credentials in it).

    Attributes:
        name: the endpoint name.
        namespace: its user or organization.
        status: ``pending``, ``initializing``, ``updating``, ``updateFailed``, ``running``, ``paused``,
            ``failed`` or ``scaledToZero``.
        url: the URL requests go to, once deployed.
        repository: the model repository.
        revision: the model revision.
        task: the Inference Endpoints task.
        endpoint_type: ``public``, ``authenticated`` or ``private``.
        vendor: the cloud.
        region: the region.
        accelerator: ``cpu`` or ``gpu``.
        instance_type: e.g. ``intel-spr``.
        instance_size: e.g. ``x2``.
        min_replica: the autoscaling floor.
        max_replica: the autoscaling ceiling.
        scale_to_zero_timeout: idle minutes before scaling to zero.
        image: the container image.
        message: the service's status message.

    Example:
        >>> status = endpoint_status("hfe-all-minilm-l6-v2")  # doctest: +SKIP
        >>> status.status, status.url  # doctest: +SKIP
        ('running', 'https://xyz.us-east-1.aws.endpoints.huggingface.cloud')
    """

    name: str
    namespace: str
    status: str
    url: str | None
    repository: str | None = None
    revision: str | None = None
    task: str | None = None
    endpoint_type: str | None = None
    vendor: str | None = None
    region: str | None = None
    accelerator: str | None = None
    instance_type: str | None = None
    instance_size: str | None = None
    min_replica: int | None = None
    max_replica: int | None = None
    scale_to_zero_timeout: int | None = None
    image: str | None = None
    message: str | None = None

    @classmethod
    def from_endpoint(cls, endpoint: Any) -> EndpointStatus:
        """Read a ``huggingface_hub.InferenceEndpoint`` (its raw JSON, defensively)."""
        raw: dict[str, Any] = getattr(endpoint, "raw", None) or {}
        compute = raw.get("compute") or {}
        scaling = compute.get("scaling") or {}
        provider = raw.get("provider") or {}
        model = raw.get("model") or {}
        image = None
        for variant in (model.get("image") or {}).values():
            if isinstance(variant, dict) and variant.get("url"):
                image = str(variant["url"])
                break
        return cls(
            name=str(endpoint.name),
            namespace=str(endpoint.namespace),
            status=str(endpoint.status),
            url=str(endpoint.url) if endpoint.url else None,
            repository=model.get("repository"),
            revision=model.get("revision"),
            task=model.get("task"),
            endpoint_type=raw.get("type"),
            vendor=provider.get("vendor"),
            region=provider.get("region"),
            accelerator=compute.get("accelerator"),
            instance_type=compute.get("instanceType"),
            instance_size=compute.get("instanceSize"),
            min_replica=scaling.get("minReplica"),
            max_replica=scaling.get("maxReplica"),
            scale_to_zero_timeout=scaling.get("scaleToZeroTimeout"),
            image=image,
            message=(raw.get("status") or {}).get("message"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class HardwareOption:
    """One hardware choice of the Inference Endpoints catalogue, with the TEI image it would run.

    Attributes:
        id: e.g. ``aws-us-east-1-nvidia-l4-x1``.
        vendor: the cloud.
        region: the region.
        accelerator: ``cpu``, ``gpu``...
        instance_type: e.g. ``nvidia-l4``.
        instance_size: e.g. ``x1``.
        architecture: a description, e.g. ``Nvidia L4``.
        num_accelerators: accelerators per replica.
        num_cpus: vCPUs per replica, when known.
        memory_gb: memory per replica.
        gpu_memory_gb: GPU memory per replica, for GPUs.
        price_per_hour: USD per replica and hour.
        status: ``available``, ``low_availability``, ``not_available``, ``reserved``, ``deprecated``.
        tei_image: :func:`tei_image` for it, or ``None`` when TEI has no image for it.

    Example:
        >>> gpus = list_hardware(accelerator="gpu", available_only=True)  # doctest: +SKIP
        >>> cheapest = min(gpus, key=lambda option: option.price_per_hour)  # doctest: +SKIP
        >>> cheapest.instance_type, cheapest.instance_size  # doctest: +SKIP
        ('nvidia-t4', 'x1')
    """

    id: str
    vendor: str
    region: str
    accelerator: str
    instance_type: str
    instance_size: str
    architecture: str
    num_accelerators: int
    num_cpus: int | None
    memory_gb: float
    gpu_memory_gb: int | None
    price_per_hour: float
    status: str
    tei_image: str | None

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (for JSON)."""
        return asdict(self)


# -- huggingface_hub calls -----------------------------------------------------------------------


def _hub_token(token: SecretStr | str | None) -> str:
    """The token for the management API, along hfe's chain (argument, environment, stored login)."""
    resolved = resolve_token(token, os.environ)
    if resolved.value is None:
        raise AuthenticationError(
            "No Hugging Face token found: managing Inference Endpoints needs one with write access. "
            "Log in with `hf auth login`, set HF_TOKEN, or pass token=."
        )
    return resolved.value.get_secret_value()


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _target(name: str | None, namespace: str | None) -> str:
    if name is None:
        return f"namespace {namespace}" if namespace else "your namespace"
    return f"{namespace}/{name}" if namespace else name


@contextmanager
def _hub_errors(what: str, target: str, token: str | None) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into hfe's typed errors; no message carries the token."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    try:
        yield
    except HfeError:
        raise
    except LocalTokenNotFoundError:
        raise AuthenticationError(
            f"No Hugging Face token to {what} {target}. Log in with `hf auth login`, set HF_TOKEN, "
            "or pass token=."
        ) from None
    except OfflineModeIsEnabled:
        raise ConfigurationError(
            f"Cannot {what} {target}: HF_HUB_OFFLINE is set. Unset it; Inference Endpoints need the network."
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        server = _scrub(str(exc.server_message or "").strip(), token) or None
        detail = f": {server}" if server else ""
        if status in (401, 403):
            raise AuthenticationError(
                f"Hugging Face refused the token ({status}) to {what} {target}{detail}. Log in with "
                "`hf auth login` or set HF_TOKEN, with a token that may manage Inference Endpoints of "
                "that namespace (fine-grained tokens need that permission), or pass token=.",
                status_code=status,
                server_message=server,
            ) from None
        if status == 404:
            raise NotFoundError(
                f"No Inference Endpoint {target} (404). Check the name and the namespace "
                "(`hfe endpoint status NAME --namespace ORG`).",
                status_code=status,
                server_message=server,
            ) from None
        if status == 409:
            raise ConfigurationError(
                f"An Inference Endpoint named {target} already exists (409). Pass another name, or delete "
                "it first (`hfe endpoint delete NAME --yes`)."
            ) from None
        if status == 402:
            raise ConfigurationError(
                f"Inference Endpoints refused to {what} {target} (402 Payment Required){detail}. Add a "
                "payment method to the namespace on https://huggingface.co/settings/billing."
            ) from None
        if status in (400, 422):
            hint = " `hfe endpoint list-hardware` lists the valid hardware." if what == "create" else ""
            raise ConfigurationError(
                f"Inference Endpoints refused to {what} {target} ({status}){detail}.{hint}"
            ) from None
        if status == 429:
            raise RateLimitedError(
                f"Inference Endpoints rate-limited the call to {what} {target} (429); try again later.",
                status_code=status,
                server_message=server,
            ) from None
        raise ServerError(
            f"Inference Endpoints could not {what} {target} ({status}){detail}.",
            status_code=status,
            server_message=server,
        ) from None
    except httpx.TransportError as exc:
        raise ServerError(
            f"Could not reach the Inference Endpoints API to {what} {target}: {type(exc).__name__}."
        ) from None
    except ValueError as exc:
        if "namespace" in str(exc):  # huggingface_hub: the token's owner is not a user
            raise ConfigurationError(
                f"Cannot tell which namespace to {what} {target} in: pass namespace= "
                "(a user or an organization)."
            ) from None
        raise


def _check_wait(timeout: float, poll_every: float) -> None:
    if not timeout > 0 or not poll_every > 0:
        raise ConfigurationError(f"timeout={timeout!r} and poll_every={poll_every!r} must be > 0 seconds.")


def _wait(
    endpoint: Any,
    *,
    what: str,
    timeout: float,
    poll_every: float,
    token: str,
) -> Any:
    """Poll until the endpoint runs with a URL (or sits scaled to zero with one)."""
    started = time.monotonic()
    last = None
    while True:
        status = str(endpoint.status)
        label = _target(endpoint.name, endpoint.namespace)
        if status != last:
            logger.info("hfe: Inference Endpoint %s is %s.", label, status)
            last = status
        if status in ("failed", "updateFailed"):
            message = (getattr(endpoint, "raw", None) or {}).get("status", {}).get("message")
            raise EndpointFailedError(
                f"The Inference Endpoint {label} is {status!r}: it failed to "
                f"{'deploy' if status == 'failed' else 'update'}"
                f"{f' ({message})' if message else ''}. Look at its logs on "
                f"https://endpoints.huggingface.co/{endpoint.namespace}/endpoints/{endpoint.name}, "
                "then fix it and resume it, or delete it and deploy again."
            )
        if status in ("running", "scaledToZero") and endpoint.url:
            return endpoint
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            raise EndpointNotReadyError(
                f"The Inference Endpoint {label} is still {status!r} {timeout:g}s {what}. It keeps "
                f"going on its own: check it with `hfe endpoint status {endpoint.name} --namespace "
                f"{endpoint.namespace}`, or wait longer (timeout=)."
            )
        time.sleep(max(0.0, min(poll_every, timeout - elapsed)))
        with _hub_errors("read", label, token):
            endpoint.fetch()


def create_endpoint(
    model: str,
    *,
    token: SecretStr | str | None = None,
    wait: bool = True,
    timeout: float = 900.0,
    poll_every: float = 5.0,
    **arguments: Any,
) -> EndpointStatus:
    """Create a TEI Inference Endpoint and (by default) wait until it runs; no embedder.

    Args:
        model: the model repository.
        token: a Hugging Face token with write access to Inference Endpoints (default: HF_TOKEN and
            the other variables of :mod:`hfe_core.auth`, then the stored login).
        wait: poll until the endpoint runs (``False``: return at once, usually ``pending``).
        timeout: seconds to wait (default 900).
        poll_every: seconds between two status reads (default 5).
        **arguments: the arguments of :func:`endpoint_arguments` (``name``, ``instance_type``...).

    Returns:
        The endpoint's status (``running``, with its URL, when ``wait``).

    Raises:
        ConfigurationError: an invalid argument, or the service refused it (a name already taken, a
            hardware combination that does not exist...).
        AuthenticationError: no token, or the token may not create endpoints there.
        EndpointFailedError: the deployment failed.
        EndpointNotReadyError: still not running after ``timeout`` (the deployment goes on).

    Example:
        >>> status = create_endpoint("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> status.status  # doctest: +SKIP
        'running'
    """
    _check_wait(timeout, poll_every)
    return _create(
        endpoint_arguments(model, **arguments), token, wait=wait, timeout=timeout, poll_every=poll_every
    )


def _create(
    kwargs: dict[str, Any], token: SecretStr | str | None, *, wait: bool, timeout: float, poll_every: float
) -> EndpointStatus:
    """Create the endpoint from :func:`endpoint_arguments`' output, then wait (when asked)."""
    _check_wait(timeout, poll_every)
    hub_token = _hub_token(token)
    import huggingface_hub

    target = _target(kwargs["name"], kwargs["namespace"])
    logger.info(
        "hfe: creating the Inference Endpoint %s for %s on %s %s %s %s %s (%s).",
        target,
        kwargs["repository"],
        kwargs["vendor"],
        kwargs["region"],
        kwargs["accelerator"],
        kwargs["instance_type"],
        kwargs["instance_size"],
        kwargs["custom_image"]["tei"]["url"],
    )
    with _hub_errors("create", target, hub_token):
        endpoint = huggingface_hub.create_inference_endpoint(token=hub_token, **kwargs)
    if wait:
        endpoint = _wait(
            endpoint, what="after it was created", timeout=timeout, poll_every=poll_every, token=hub_token
        )
    return EndpointStatus.from_endpoint(endpoint)


_ENDPOINT_SETTINGS = ("mode", "endpoint_name", "namespace", "url", "token", "api_key", "provider")


def deploy_endpoint(
    model: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    vendor: str = "aws",
    region: str = "us-east-1",
    accelerator: str = "cpu",
    instance_type: str = "intel-spr",
    instance_size: str = "x2",
    min_replica: int = 0,
    max_replica: int = 1,
    scale_to_zero_timeout: int | None = 15,
    max_batch_tokens: int = 16384,
    max_concurrent_requests: int = 512,
    max_client_batch_size: int | None = None,
    max_batch_requests: int | None = None,
    auto_truncate: bool | None = None,
    revision: str | None = None,
    endpoint_type: str = "authenticated",
    image: str | None = None,
    env: Mapping[str, Any] | None = None,
    tei_version: str = DEFAULT_TEI_VERSION,
    token: SecretStr | str | None = None,
    wait: bool = True,
    timeout: float = 900.0,
    poll_every: float = 5.0,
    **embedder_settings: Any,
) -> Embedder:
    """Deploy ``model`` on a new Inference Endpoint running TEI and return an embedder for it.

    The embedder settings are checked before anything is created. The endpoint is created through
    ``huggingface_hub.create_inference_endpoint`` with :func:`endpoint_arguments`, then polled until it
    runs. The embedder connects lazily, on first use.

    Args:
        model: the model repository, e.g. ``"BAAI/bge-small-en-v1.5"``.
        name: the endpoint name (default: derived from ``model``, see :func:`default_endpoint_name`).
        namespace: the user or organization that owns it (default: the token's user).
        vendor: see :func:`endpoint_arguments` for this and every hardware and TEI argument.
        region: the region.
        accelerator: ``"cpu"`` or ``"gpu"``.
        instance_type: the instance type.
        instance_size: the instance size.
        min_replica: replicas always up (0: scale to zero).
        max_replica: the autoscaling ceiling.
        scale_to_zero_timeout: idle minutes before scaling to zero.
        max_batch_tokens: TEI's ``MAX_BATCH_TOKENS``.
        max_concurrent_requests: TEI's ``MAX_CONCURRENT_REQUESTS``.
        max_client_batch_size: TEI's ``MAX_CLIENT_BATCH_SIZE``.
        max_batch_requests: TEI's ``MAX_BATCH_REQUESTS``.
        auto_truncate: TEI's ``AUTO_TRUNCATE``.
        revision: the model revision.
        endpoint_type: ``"authenticated"``, ``"public"`` or ``"private"``.
        image: the container image, instead of :func:`tei_image`'s choice.
        env: more TEI environment variables.
        tei_version: the TEI release.
        token: a Hugging Face token with write access to Inference Endpoints; it is also the
            embedder's token (default: HF_TOKEN and the rest of hfe's chain, then the stored login).
        wait: wait until the endpoint runs (``False``: return at once; the embedder waits for the
            endpoint on first use, within ``cold_start_timeout``).
        timeout: seconds to wait (default 900).
        poll_every: seconds between two status reads (default 5).
        **embedder_settings: settings of the returned embedder (``batch_size``, ``truncation``,
            ``cold_start_timeout``...; see :class:`~hfe_core.config.EmbedderSettings`).

    Returns:
        ``Embedder(mode="endpoint", endpoint_name=..., namespace=..., token=token, **embedder_settings)``.

    Raises:
        ConfigurationError: an invalid argument or setting, or the service refused the deployment.
        AuthenticationError: no token, or the token may not create endpoints in that namespace.
        EndpointFailedError: the deployment failed.
        EndpointNotReadyError: still not running after ``timeout`` (the deployment goes on; the
            endpoint can be used or deleted later).

    Example:
        >>> embedder = deploy_endpoint("BAAI/bge-small-en-v1.5", accelerator="gpu",  # doctest: +SKIP
        ...                            instance_type="nvidia-l4", instance_size="x1", batch_size=64)
    """
    from hfe_core.config import EmbedderSettings
    from hfe_core.embedder import Embedder

    _check_wait(timeout, poll_every)
    clash = sorted(set(embedder_settings) & set(_ENDPOINT_SETTINGS))
    if clash:
        raise ConfigurationError(
            f"deploy_endpoint sets {', '.join(clash)} itself; leave {'them' if len(clash) > 1 else 'it'} out."
        )
    arguments = endpoint_arguments(
        model,
        name=name,
        namespace=namespace,
        vendor=vendor,
        region=region,
        accelerator=accelerator,
        instance_type=instance_type,
        instance_size=instance_size,
        min_replica=min_replica,
        max_replica=max_replica,
        scale_to_zero_timeout=scale_to_zero_timeout,
        max_batch_tokens=max_batch_tokens,
        max_concurrent_requests=max_concurrent_requests,
        max_client_batch_size=max_client_batch_size,
        max_batch_requests=max_batch_requests,
        auto_truncate=auto_truncate,
        revision=revision,
        endpoint_type=endpoint_type,
        image=image,
        env=env,
        tei_version=tei_version,
    )
    # Check the embedder's settings before spending anything on a deployment.
    EmbedderSettings(
        mode="endpoint",
        endpoint_name=arguments["name"],
        namespace=namespace,
        token=token,
        **embedder_settings,
    )
    status = _create(arguments, token, wait=wait, timeout=timeout, poll_every=poll_every)
    return Embedder(
        mode="endpoint",
        endpoint_name=status.name,
        namespace=status.namespace,
        token=token,
        **{"model": model, **embedder_settings},  # the model id selects its family's prompts
    )


# -- managing an endpoint ------------------------------------------------------------------------


def _check_endpoint_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("The endpoint name is empty; give the name shown by `hfe endpoint status`.")


def endpoint_status(
    name: str, *, namespace: str | None = None, token: SecretStr | str | None = None
) -> EndpointStatus:
    """Read an Inference Endpoint's state, URL and settings.

    Args:
        name: the endpoint name.
        namespace: its user or organization (default: the token's user).
        token: a Hugging Face token (default: hfe's chain, then the stored login).

    Returns:
        The endpoint's status.

    Raises:
        NotFoundError: no such endpoint.
        AuthenticationError: no token, or the token may not read it.

    Example:
        >>> endpoint_status("hfe-all-minilm-l6-v2").status  # doctest: +SKIP
        'scaledToZero'
    """
    _check_endpoint_name(name)
    hub_token = _hub_token(token)
    import huggingface_hub

    with _hub_errors("read", _target(name, namespace), hub_token):
        endpoint = huggingface_hub.get_inference_endpoint(name, namespace=namespace, token=hub_token)
    return EndpointStatus.from_endpoint(endpoint)


def pause_endpoint(
    name: str, *, namespace: str | None = None, token: SecretStr | str | None = None
) -> EndpointStatus:
    """Pause an Inference Endpoint: no cost, and no request wakes it until :func:`resume_endpoint`.

    Args:
        name: the endpoint name.
        namespace: its user or organization (default: the token's user).
        token: a Hugging Face token with write access (default: hfe's chain, then the stored login).

    Returns:
        The endpoint's status (``paused``).

    Example:
        >>> pause_endpoint("hfe-all-minilm-l6-v2").status  # doctest: +SKIP
        'paused'
    """
    _check_endpoint_name(name)
    hub_token = _hub_token(token)
    import huggingface_hub

    with _hub_errors("pause", _target(name, namespace), hub_token):
        endpoint = huggingface_hub.pause_inference_endpoint(name, namespace=namespace, token=hub_token)
    logger.info("hfe: paused the Inference Endpoint %s.", _target(endpoint.name, endpoint.namespace))
    return EndpointStatus.from_endpoint(endpoint)


def resume_endpoint(
    name: str,
    *,
    namespace: str | None = None,
    token: SecretStr | str | None = None,
    wait: bool = True,
    timeout: float = 900.0,
    poll_every: float = 5.0,
) -> EndpointStatus:
    """Resume a paused (or scaled-to-zero, or failed) Inference Endpoint; a running one is left as is.

    Args:
        name: the endpoint name.
        namespace: its user or organization (default: the token's user).
        token: a Hugging Face token with write access (default: hfe's chain, then the stored login).
        wait: poll until it runs (default).
        timeout: seconds to wait (default 900).
        poll_every: seconds between two status reads (default 5).

    Returns:
        The endpoint's status (``running`` when ``wait``).

    Raises:
        EndpointFailedError: it failed to start.
        EndpointNotReadyError: still not running after ``timeout``.

    Example:
        >>> resume_endpoint("hfe-all-minilm-l6-v2").status  # doctest: +SKIP
        'running'
    """
    _check_endpoint_name(name)
    _check_wait(timeout, poll_every)
    hub_token = _hub_token(token)
    import huggingface_hub

    with _hub_errors("resume", _target(name, namespace), hub_token):
        endpoint = huggingface_hub.resume_inference_endpoint(
            name, namespace=namespace, running_ok=True, token=hub_token
        )
    logger.info("hfe: resumed the Inference Endpoint %s.", _target(endpoint.name, endpoint.namespace))
    if wait:
        endpoint = _wait(
            endpoint, what="after it was resumed", timeout=timeout, poll_every=poll_every, token=hub_token
        )
    return EndpointStatus.from_endpoint(endpoint)


def scale_endpoint_to_zero(
    name: str, *, namespace: str | None = None, token: SecretStr | str | None = None
) -> EndpointStatus:
    """Scale an Inference Endpoint to zero now; its next request starts a replica (a cold start).

    Args:
        name: the endpoint name.
        namespace: its user or organization (default: the token's user).
        token: a Hugging Face token with write access (default: hfe's chain, then the stored login).

    Returns:
        The endpoint's status (``scaledToZero``).

    Example:
        >>> scale_endpoint_to_zero("hfe-all-minilm-l6-v2").status  # doctest: +SKIP
        'scaledToZero'
    """
    _check_endpoint_name(name)
    hub_token = _hub_token(token)
    import huggingface_hub

    with _hub_errors("scale to zero", _target(name, namespace), hub_token):
        endpoint = huggingface_hub.scale_to_zero_inference_endpoint(
            name, namespace=namespace, token=hub_token
        )
    logger.info("hfe: scaled the Inference Endpoint %s to zero.", _target(endpoint.name, endpoint.namespace))
    return EndpointStatus.from_endpoint(endpoint)


def delete_endpoint(name: str, *, namespace: str | None = None, token: SecretStr | str | None = None) -> None:
    """Delete an Inference Endpoint. This cannot be undone; pausing keeps it at no cost.

    Args:
        name: the endpoint name.
        namespace: its user or organization (default: the token's user).
        token: a Hugging Face token with write access (default: hfe's chain, then the stored login).

    Raises:
        NotFoundError: no such endpoint.

    Example:
        >>> delete_endpoint("hfe-all-minilm-l6-v2")  # doctest: +SKIP
    """
    _check_endpoint_name(name)
    hub_token = _hub_token(token)
    import huggingface_hub

    target = _target(name, namespace)
    with _hub_errors("delete", target, hub_token):
        huggingface_hub.delete_inference_endpoint(name, namespace=namespace, token=hub_token)
    logger.info("hfe: deleted the Inference Endpoint %s.", target)


def _tei_image_or_none(accelerator: str, instance_type: str) -> str | None:
    try:
        return tei_image(accelerator, instance_type)
    except ConfigurationError:
        return None


def list_hardware(
    *,
    namespace: str | None = None,
    token: SecretStr | str | None = None,
    vendor: str | None = None,
    region: str | None = None,
    accelerator: str | None = None,
    available_only: bool = False,
) -> list[HardwareOption]:
    """The hardware Inference Endpoints offers, with the TEI image each would run.

    Args:
        namespace: whose catalogue and quotas (default: the token's user).
        token: a Hugging Face token (default: hfe's chain, then the stored login).
        vendor: keep only this cloud.
        region: keep only this region.
        accelerator: keep only ``"cpu"`` or ``"gpu"``.
        available_only: keep only hardware whose status is ``available`` or ``low_availability``.

    Returns:
        The options, in the catalogue's order.

    Example:
        >>> for option in list_hardware(vendor="aws", available_only=True):  # doctest: +SKIP
        ...     print(option.id, option.price_per_hour)
    """
    hub_token = _hub_token(token)
    import huggingface_hub

    with _hub_errors("list the hardware of", _target(None, namespace), hub_token):
        catalogue = huggingface_hub.list_inference_endpoints_hardware(namespace=namespace, token=hub_token)
    options = [
        HardwareOption(
            id=hw.id,
            vendor=hw.vendor,
            region=hw.region,
            accelerator=hw.accelerator,
            instance_type=hw.instance_type,
            instance_size=hw.instance_size,
            architecture=hw.architecture,
            num_accelerators=hw.num_accelerators,
            num_cpus=hw.num_cpus,
            memory_gb=hw.memory_gb,
            gpu_memory_gb=hw.gpu_memory_gb,
            price_per_hour=hw.price_per_hour,
            status=hw.status,
            tei_image=_tei_image_or_none(hw.accelerator, hw.instance_type),
        )
        for hw in catalogue
    ]
    return [
        option
        for option in options
        if (vendor is None or option.vendor == vendor)
        and (region is None or option.region == region)
        and (accelerator is None or option.accelerator == accelerator)
        and (not available_only or option.status in ("available", "low_availability"))
    ]
