"""endpoint mode: Hugging Face Inference Endpoints and the serverless Inference API.

Two kinds of target, chosen from the settings by :func:`create_endpoint_backend`:

* **A dedicated Inference Endpoint** (``endpoint_name=``, ``url=`` on
  ``*.endpoints.huggingface.cloud``, or any other ``url=`` with ``mode="endpoint"``):
  a TEI server behind Hugging Face's proxy. :class:`DedicatedEndpointBackend` is the
  tei-mode backend (``/info`` limits, request planning, bounded concurrency, retries,
  error mapping) plus what the proxy adds: ``X-Scale-Up-Timeout`` on every request,
  502/503 retried along ``cold_start_timeout`` while a replica starts (said once at
  INFO, with the endpoint's state polled through ``huggingface_hub`` when its name
  is known), and a paused endpoint (400 ``Invalid state``) raised as
  :class:`~hfe_core.errors.EndpointPausedError` or resumed (``resume_if_paused``).
* **The serverless Inference API / Inference Providers** (``model=`` with
  ``provider=``, default ``"hf-inference"``, or ``url=`` on ``router.huggingface.co``
  or ``api-inference.huggingface.co``): :class:`ServerlessBackend` calls
  ``huggingface_hub``'s ``InferenceClient`` (one per embedder, explicit timeout),
  reads answers by shape and retries 429 and 503 (``"is currently loading"`` waits
  about its ``estimated_time``).

The HF token goes only to Hugging Face hosts unless it was passed explicitly
(:func:`hfe_core.auth.token_for_url`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlparse

import httpx
import numpy as np
import numpy.typing as npt

from hfe_core.answers import read_json_vectors, read_vectors
from hfe_core.auth import EXPLICIT_TOKEN_SOURCES, redact, token_for_url
from hfe_core.backends.base import Backend
from hfe_core.backends.tei import TEIBackend
from hfe_core.batching import RequestLimits, plan_requests
from hfe_core.config import DEFAULT_PROVIDER, EmbedderSettings, InputType
from hfe_core.errors import (
    AuthenticationError,
    ConfigurationError,
    EmbeddingTimeoutError,
    EndpointFailedError,
    EndpointNotReadyError,
    EndpointPausedError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TokenLevelOutputError,
)
from hfe_core.retry import RetryPolicy, parse_retry_after
from hfe_core.transport.deadline import request_deadline, with_deadlines
from hfe_core.transport.loops import PerLoop
from hfe_core.transport.responses import (
    HTTPResponse,
    _Attempts,
    _Outcome,
    _scrub_error,
    _Scrubbed,
    _server_message,
    classify,
    next_wait,
)
from hfe_core.transport.server import ServerTransport
from hfe_core.validation import server_text

__all__ = [
    "SERVERLESS_HOSTS",
    "DedicatedEndpointBackend",
    "ServerlessBackend",
    "classify_endpoint",
    "create_endpoint_backend",
    "token_level_error",
    "vectors_from_answer",
]

logger = logging.getLogger("hfe")

#: Hosts of the serverless Inference API (a URL there is called through InferenceClient).
SERVERLESS_HOSTS = frozenset({"router.huggingface.co", "api-inference.huggingface.co"})
#: Inputs per serverless request unless batch_size is set: the shared API is no place for big batches.
SERVERLESS_BATCH_SIZE = 32
#: Requests in flight on the serverless API unless max_concurrency is set.
SERVERLESS_CONCURRENCY = 4
_SERVERLESS_MAX_BYTES = 1_000_000
_LOGIN_HINT = "Log in with `hf auth login`, set HF_TOKEN, or pass token=."


def _is_serverless_url(url: str) -> bool:
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    return host in SERVERLESS_HOSTS or (host == "huggingface.co" and parsed.path.startswith("/api/inference"))


def create_endpoint_backend(settings: EmbedderSettings) -> Backend:
    """The endpoint-mode backend for ``settings``: dedicated endpoint or serverless API.

    Raises:
        ConfigurationError: none of ``url``, ``endpoint_name`` and ``model`` is set, or they conflict.
    """
    if settings.endpoint_name and settings.url:
        raise ConfigurationError(
            "Pass either endpoint_name= (resolved through huggingface_hub) or url=, not both."
        )
    if settings.endpoint_name or (settings.url and not _is_serverless_url(settings.url)):
        return DedicatedEndpointBackend(settings)
    if settings.url or settings.model:
        return ServerlessBackend(settings)
    raise ConfigurationError(
        "mode='endpoint' needs one of: url= (an Inference Endpoint's URL), endpoint_name= (with "
        "namespace= if it is not yours), or model= (a model id for the serverless Inference API, "
        f"with provider=, default {DEFAULT_PROVIDER!r})."
    )


# -- the error boundary shared by both kinds of target ------------------------------------------------
def _json_body(response: HTTPResponse) -> Any:
    try:
        return json.loads(response.text) if response.text else None
    except ValueError:
        return None


def classify_endpoint(
    response: HTTPResponse, *, url: str, label: str, token_sent: bool, resume: bool = False
) -> _Outcome:
    """Map one answer of an endpoint or the serverless API to success, retry or a typed error.

    What differs from TEI's own answers (:func:`~hfe_core.transport.responses.classify`): 502/503 mean a
    replica is starting (the cold-start budget applies; a legacy ``"is currently loading"`` body gives
    the wait in ``estimated_time``), a 400 ``Invalid state`` or ``paused`` means a paused endpoint,
    and 401/403/429 say how to log in when no token was sent.

    Args:
        response: the answer.
        url: the URL, for messages.
        label: the endpoint's name or URL, for messages.
        token_sent: whether the request carried a token.
        resume: resume a paused endpoint (``resume_if_paused``) instead of failing.
    """
    status = response.status_code
    if status == 200:
        return _Outcome("ok")
    message, _ = _server_message(response)
    details: dict[str, Any] = {
        "status_code": status,
        "server_message": message,
        "request_id": response.headers.get("x-request-id"),
    }
    lowered = message.lower()
    if status == 400 and ("paused" in lowered or "invalid state" in lowered):
        error = EndpointPausedError(
            f"The Inference Endpoint {label} is paused ({message!r}); no request wakes a paused endpoint. "
            "Resume it with `hfe endpoint resume NAME` (or huggingface_hub.resume_inference_endpoint), "
            "or pass resume_if_paused=True to let hfe resume it and wait.",
            endpoint_name=label if "://" not in label else None,
            **details,
        )
        if resume:
            return _Outcome("retry", error, retry_after=0.0, cold_start=True, paused=True)
        return _Outcome("fail", error, paused=True)
    if status in (502, 503):
        body = _json_body(response)
        estimated = body.get("estimated_time") if isinstance(body, dict) else None
        loading = "currently loading" in lowered
        what = "the model was still loading" if loading else "a replica was still starting"
        return _Outcome(
            "retry",
            EndpointNotReadyError(
                f"{label} answered {status} ({message or 'unavailable'}) until cold_start_timeout ran out: "
                f"{what}. Raise cold_start_timeout, or check the endpoint's state with "
                "`hfe endpoint status NAME`.",
                **details,
            ),
            retry_after=float(estimated)
            if isinstance(estimated, int | float)
            else parse_retry_after(response.headers.get("retry-after")),
            cold_start=True,
        )
    if status in (401, 403):
        hint = (
            f"No token was sent: {_LOGIN_HINT} (A token found in the environment only goes to "
            "Hugging Face hosts; pass token= to send it to another URL.)"
            if not token_sent
            else "The token was refused: check that it is valid and may call this endpoint or "
            "Inference Providers (fine-grained tokens need that permission)."
        )
        refused = AuthenticationError(f"{url} answered {status} ({message}). {hint}", **details)
        return _Outcome("fail", refused)
    if status == 429:
        hint = (
            f" Anonymous calls are rate-limited hard: {_LOGIN_HINT}"
            if not token_sent
            else " Lower max_concurrency, or raise max_retries/retry_timeout."
        )
        return _Outcome(
            "retry",
            RateLimitedError(
                f"{url} answered 429 ({message}) until the retry budget ran out.{hint}", **details
            ),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            overloaded=True,
        )
    if status == 404:
        return _Outcome(
            "fail",
            NotFoundError(
                f"{url} answered 404 ({message}). Check the endpoint URL or name, or that the model is "
                "served by this provider (https://huggingface.co/models?inference_provider=all).",
                **details,
            ),
        )
    return classify(response, url=url)


class _ColdStarts:
    """Waiting for a replica to start: the cold-start budget, and one INFO line per episode."""

    #: A cold-start episode ends when no 502/503 was seen for this long (a new one is announced again).
    EPISODE_GAP: ClassVar[float] = 60.0

    settings: EmbedderSettings

    def _init_cold_starts(self) -> None:
        self._cold_lock = threading.Lock()
        self._last_cold: float | None = None
        # Backoff from 1 s to 10 s (or the server's estimate) until the budget runs out, attempting
        # once more at its end.
        self._cold_policy = RetryPolicy(
            max_attempts=2**31,
            max_seconds=self.settings.cold_start_timeout,
            initial_backoff=1.0,
            max_backoff=10.0,
            clip_to_budget=True,
        )

    @property
    def _label(self) -> str:
        raise NotImplementedError

    def _announce_cold_start(self) -> None:
        now = time.monotonic()
        with self._cold_lock:
            new_episode = self._last_cold is None or now - self._last_cold > self.EPISODE_GAP
            self._last_cold = now
        if new_episode:
            logger.info(
                "hfe: %s is starting (scaling up from zero, or loading its model); waiting up to %gs "
                "for it (cold_start_timeout).",
                self._label,
                self.settings.cold_start_timeout,
            )

    def _cold_wait(self, outcome: _Outcome, attempt: int, elapsed: float) -> float | None:
        if elapsed >= self.settings.cold_start_timeout:
            return None
        if not outcome.paused:
            self._announce_cold_start()
        retry_after = None if outcome.retry_after is None else max(0.0, outcome.retry_after)
        return self._cold_policy.wait(attempt, elapsed, retry_after)


# -- dedicated Inference Endpoints ----------------------------------------------------------------------
class DedicatedEndpointTransport(_ColdStarts, ServerTransport):
    """The transport to a dedicated Inference Endpoint: a TEI server behind Hugging Face's proxy.

    It adds to :class:`~hfe_core.transport.server.ServerTransport` the endpoint's URL by name, the
    proxy's answers, cold starts (``X-Scale-Up-Timeout``, 503s, polling) and resuming a paused endpoint.
    """

    _discovers_url: ClassVar[bool] = True
    #: Seconds between two status polls of a starting endpoint through huggingface_hub.
    POLL_EVERY: ClassVar[float] = 5.0

    def __init__(self, settings: EmbedderSettings) -> None:
        super().__init__(settings)
        self._init_cold_starts()
        self._endpoint_name = settings.endpoint_name
        self._namespace = settings.namespace
        self._handle: Any = None
        self._handle_lock = threading.Lock()
        self._last_poll = 0.0
        self._resume_lock = threading.Lock()

    @property
    def _label(self) -> str:
        return self._endpoint_name or self.settings.url or "the Inference Endpoint"

    @property
    def _extra_headers(self) -> dict[str, str]:
        # The proxy holds a request this long while a replica starts, instead of answering 503 at once.
        return {"X-Scale-Up-Timeout": str(max(1, int(self.settings.scale_up_timeout or 1)))}

    @property
    def _read_timeout(self) -> float:
        # An answer may take the proxy's hold plus the embedding itself.
        return max(float(self.settings.timeout or 60.0), float(self.settings.scale_up_timeout or 0) + 10.0)

    # -- the endpoint through huggingface_hub ------------------------------------------------------
    @property
    def _hub_token(self) -> str | None:
        # The management API is a Hugging Face host: the HF token may go there, whatever its source.
        return self.settings.token.get_secret_value() if self.settings.token else None

    def _hub_call(self, what: str, call: Callable[[], Any]) -> Any:
        """Call huggingface_hub's Inference Endpoints API, mapping its errors to hfe's."""
        from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

        try:
            return call()
        except LocalTokenNotFoundError:
            # huggingface_hub asks /whoami for the namespace, and needs a token for that.
            name = self._endpoint_name or self._label
            raise AuthenticationError(
                f"No Hugging Face token to {what} the Inference Endpoint {name}. {_LOGIN_HINT}"
            ) from None
        except OfflineModeIsEnabled:
            name = self._endpoint_name or self._label
            raise ConfigurationError(
                f"Cannot {what} the Inference Endpoint {name}: HF_HUB_OFFLINE "
                "is set. Unset it (before importing huggingface_hub); Inference Endpoints need the network."
            ) from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            name = f"{self._namespace + '/' if self._namespace else ''}{self._endpoint_name or self._label}"
            if status in (401, 403):
                raise AuthenticationError(
                    f"The Inference Endpoints API refused to {what} {name} ({status}). {_LOGIN_HINT}",
                    status_code=status,
                ) from None
            if status == 404:
                raise NotFoundError(
                    f"No Inference Endpoint named {name} (404). Check endpoint_name= and namespace= "
                    "(`hfe endpoint status NAME --namespace ORG`).",
                    status_code=status,
                ) from None
            raise ServerError(
                f"The Inference Endpoints API could not {what} {name}: {exc.server_message or status}",
                status_code=status,
            ) from None
        except httpx.TransportError as exc:
            raise ServerError(
                f"Could not reach the Inference Endpoints API to {what} {self._label}: {type(exc).__name__}"
            ) from exc

    def _endpoint(self, *, refresh: bool = False) -> Any:
        """The endpoint's ``InferenceEndpoint`` (by name, or found by URL), or ``None``."""
        with self._handle_lock:
            if self._handle is None:
                self._handle = self._find_endpoint()
            elif refresh:
                self._hub_call("read", self._handle.fetch)
            return self._handle

    def _find_endpoint(self) -> Any:
        import huggingface_hub

        if self._endpoint_name:
            name = self._endpoint_name
            return self._hub_call(
                "read",
                lambda: huggingface_hub.get_inference_endpoint(
                    name, namespace=self._namespace, token=self._hub_token
                ),
            )
        # Only a URL: look the endpoint up among the user's and their organisations' (best effort).
        # (huggingface_hub's namespace="*" drops the token after the first namespace, so not that.)
        token, target = self._hub_token, self.base_url
        try:
            namespaces: list[str | None] = [self._namespace]
            if self._namespace is None:
                orgs = huggingface_hub.whoami(token=token).get("orgs") or []
                namespaces += [org["name"] for org in orgs if isinstance(org, dict) and org.get("name")]
            for namespace in namespaces:
                for endpoint in huggingface_hub.list_inference_endpoints(namespace=namespace, token=token):
                    if endpoint.url and endpoint.url.rstrip("/") == target:
                        self._endpoint_name, self._namespace = endpoint.name, endpoint.namespace
                        return endpoint
        except Exception as exc:  # noqa: BLE001 - an optional lookup; the caller says what to do
            logger.debug("hfe: could not list Inference Endpoints to find %s: %s", self._label, exc)
        return None

    def _discover_url(self) -> str:
        """The endpoint's URL from the Inference Endpoints API, once it has one."""
        endpoint = self._endpoint()
        self._poll_until(
            endpoint,
            lambda: bool(endpoint.url),  # none while pending or initializing
            "had no URL yet",
            check=self._check_state,
            on_wait=self._announce_cold_start,
        )
        return str(endpoint.url)

    def _poll_until(
        self,
        endpoint: Any,
        ready: Callable[[], bool],
        waiting: str,
        *,
        check: Callable[[Any], None],
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        """Check the endpoint, then read its state every ``POLL_EVERY`` s until ``ready()``.

        Raises:
            EndpointNotReadyError: still not ready after ``cold_start_timeout``.
        """
        started = time.monotonic()
        while True:
            check(endpoint)
            if ready():
                return
            if on_wait is not None:
                on_wait()
            if time.monotonic() - started > self.settings.cold_start_timeout:
                raise EndpointNotReadyError(
                    f"The Inference Endpoint {endpoint.name} {waiting} (state {endpoint.status!r}) after "
                    f"cold_start_timeout={self.settings.cold_start_timeout:g}s."
                )
            time.sleep(self.POLL_EVERY)
            self._hub_call("read", endpoint.fetch)

    @staticmethod
    def _check_failed(endpoint: Any) -> None:
        status = str(endpoint.status)
        if status in ("failed", "updateFailed"):
            raise EndpointFailedError(
                f"The Inference Endpoint {endpoint.name} is in state {status!r}: it failed to "
                f"{'deploy' if status == 'failed' else 'update'}. Look at its logs on "
                "https://endpoints.huggingface.co, fix it, and resume or recreate it."
            )

    def _check_state(self, endpoint: Any) -> None:
        """Raise for a failed endpoint; raise for a paused one, or resume it (``resume_if_paused``)."""
        self._check_failed(endpoint)
        if str(endpoint.status) == "paused":
            if not self.settings.resume_if_paused:
                raise EndpointPausedError(
                    f"The Inference Endpoint {endpoint.name} is paused; no request wakes a paused endpoint. "
                    f"Resume it with `hfe endpoint resume {endpoint.name}`, or pass resume_if_paused=True.",
                    endpoint_name=endpoint.name,
                )
            self._resume(endpoint)

    def _resume(self, endpoint: Any) -> None:
        """Resume a paused endpoint and wait until it runs (one thread resumes; the others wait)."""
        with self._resume_lock:
            self._hub_call("read", endpoint.fetch)
            if endpoint.status == "paused":
                logger.info(
                    "hfe: resuming the paused Inference Endpoint %s (resume_if_paused).", endpoint.name
                )
                self._hub_call("resume", lambda: endpoint.resume(running_ok=True))
            self._poll_until(
                endpoint,
                lambda: endpoint.status == "running" and bool(endpoint.url),
                "was resumed but is not running yet",
                check=self._check_failed,
            )

    # -- answers -----------------------------------------------------------------------------------
    #: The proxy, or an image that is not TEI, may refuse an optional route rather than lack it.
    _ABSENT_STATUSES: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 405})

    def _classify(self, response: HTTPResponse, route: str) -> _Outcome:
        return classify_endpoint(
            response,
            url=self.base_url + route,
            label=self._label,
            token_sent=self._token is not None,
            resume=self.settings.resume_if_paused,
        )

    def _cold_start_wait(self, outcome: _Outcome, attempt: int, elapsed: float) -> float | None:
        return self._cold_wait(outcome, attempt, elapsed)

    def _prepare_retry(self, outcome: _Outcome) -> None:
        """Resume a paused endpoint, or poll a starting one's state (failed or paused stop the wait)."""
        if outcome.paused:
            endpoint = self._endpoint()
            if endpoint is None:
                assert outcome.error is not None  # noqa: S101 - paused outcomes carry the error
                raise EndpointPausedError(
                    f"{outcome.error} hfe could not find which endpoint serves {self._label} to resume "
                    "it: pass endpoint_name= (and namespace=).",
                    status_code=400,
                )
            self._resume(endpoint)
            return
        if not outcome.cold_start or time.monotonic() - self._last_poll < self.POLL_EVERY:
            return
        self._last_poll = time.monotonic()
        if not self._endpoint_name and self._handle is None:
            return  # polling needs the endpoint's name; a URL alone is not looked up for a 503
        try:
            endpoint = self._endpoint(refresh=True)
        except (ServerError, NotFoundError, AuthenticationError) as exc:
            logger.debug("hfe: could not poll %s: %s", self._label, exc)
            return
        logger.debug("hfe: %s is %s", self._label, endpoint.status)
        self._check_state(endpoint)


class DedicatedEndpointBackend(DedicatedEndpointTransport, TEIBackend):
    """The embed task on a dedicated Inference Endpoint running TEI (or another image's answer shapes)."""

    mode: ClassVar[str] = "endpoint"

    def _read(self, response: HTTPResponse, count: int) -> npt.NDArray[np.float32]:
        """The checked vectors of a 200 answer, whatever shape the endpoint's image answers.

        TEI's ``(count, dim)`` takes the fast path of :func:`~hfe_core.answers.read_json_vectors`; the
        default Inference Endpoints image's ``{"embeddings": ...}``, a flat ``(dim,)`` vector for one
        input, and per-token arrays, ragged or not (pooled with ``pooling="mean"``), fall back to
        :func:`~hfe_core.answers.read_vectors`. Vectors are normalized here when ``normalize`` is on:
        an image that is not TEI ignores the flag (TEI's own unit vectors change by a rounding at most).

        Raises:
            TokenLevelOutputError: per-token arrays without ``pooling="mean"``.
            ResponseFormatError: anything else that is not ``count`` finite vectors.
        """
        if self.settings.route == "openai":
            return super()._read(response, count)
        label = self._request_label(count)
        vectors = read_json_vectors(response.content, count, label=label, pooling=self.settings.pooling)
        return _normalized(vectors) if self.settings.normalize else vectors


def _normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Unit-length rows (zero rows stay zero); norms in float64, so huge values cannot overflow."""
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


# -- the serverless Inference API -----------------------------------------------------------------------
def vectors_from_answer(
    answer: npt.ArrayLike, count: int, *, pooling: str | None, label: str
) -> npt.NDArray[np.float32]:
    """Alias of :func:`hfe_core.answers.read_vectors`, kept for callers of this older name."""
    return read_vectors(answer, count, label=label, pooling=pooling)


def token_level_error(label: str, what: str) -> TokenLevelOutputError:
    """The error for per-token answers, naming the ``pooling="mean"`` option."""
    return TokenLevelOutputError(
        f"{label} answered per-token embeddings ({what}), not one vector per text: it is not a "
        "sentence-embedding model. Pass pooling='mean' to average the tokens client-side, or choose "
        "a sentence-transformers model (e.g. sentence-transformers/all-MiniLM-L6-v2)."
    )


#: What an InferenceClient call raises: HfHubHTTPError (an OSError and httpx.HTTPError), raw httpx
#: transport errors, numpy's ValueError on ragged arrays, and ValueError/TypeError on odd answers.
_CALL_ERRORS = (ValueError, TypeError, OSError, httpx.TransportError)


def _is_ragged_error(exc: ValueError) -> bool:
    text = str(exc)
    return "inhomogeneous" in text or "setting an array element with a sequence" in text


def _provider_token(token: Any, source: str | None) -> str | None:
    """The token to give ``InferenceClient`` for a provider.

    huggingface_hub sends a token that starts with ``hf_`` to Hugging Face's router, and any other
    token straight to the provider's own host as that provider's key. A token from the environment
    or the stored login may only go to Hugging Face (:func:`~hfe_core.auth.token_for_url`), so one
    that is not a Hugging Face token is not passed; pass it as ``token=`` to use it as a provider key.
    """
    if token is None:
        return None
    raw = str(token.get_secret_value())
    if source in EXPLICIT_TOKEN_SOURCES or raw.startswith("hf_"):
        return raw
    logger.warning(
        "hfe: the token from %s does not look like a Hugging Face token (hf_...): it is not sent, since "
        "huggingface_hub would send it to the provider directly. Pass it as token= to use it as a "
        "provider key.",
        source,
    )
    return None


async def _close_async(client: Any) -> None:
    await client.close()


class ServerlessBackend(_ColdStarts, Backend):
    """The serverless Inference API / Inference Providers, through ``huggingface_hub``'s InferenceClient."""

    mode: ClassVar[str] = "endpoint"
    sort_by_length = True

    def __init__(self, settings: EmbedderSettings) -> None:
        super().__init__(settings)
        self._init_cold_starts()
        if settings.url:
            self.target = settings.url.rstrip("/")
            self.provider: str | None = None
            self._token = token_for_url(settings.token, settings.token_source, self.target)
        else:
            self.target = str(settings.model)
            self.provider = settings.provider or DEFAULT_PROVIDER
            self._token = _provider_token(settings.token, settings.token_source)
        self._hf_inference = self.provider in (None, "hf-inference")
        if settings.truncation == "chunk" or (not self._hf_inference and settings.truncation != "truncate"):
            raise ConfigurationError(
                f"truncation={settings.truncation!r} is not available on the serverless API"
                f"{'' if self._hf_inference else f' with provider={self.provider!r}'}: it has no tokenizer "
                "hfe can use. Use truncation='truncate' (the server's default), or a dedicated Inference "
                "Endpoint (endpoint_name= or url=) or local mode."
            )
        if settings.route == "openai":
            raise ConfigurationError(
                "route='openai' is for TEI servers and dedicated endpoints; the serverless API is called "
                "through huggingface_hub."
            )
        explicit = settings.model_fields_set
        self.max_concurrency = (
            int(settings.max_concurrency or 1) if "max_concurrency" in explicit else SERVERLESS_CONCURRENCY
        )
        self._batch_size = (
            int(settings.batch_size or 1) if "batch_size" in explicit else SERVERLESS_BATCH_SIZE
        )

        self.policy = RetryPolicy(max_attempts=settings.max_retries + 1, max_seconds=settings.retry_timeout)
        self._client: Any = None
        # One AsyncInferenceClient per live event loop, closed when its loop shuts down.
        self._async_clients: PerLoop[Any] = PerLoop(self._new_async_client, _close_async)
        self._dimension: int | None = None
        self._counts = {"requests": 0, "retries": 0}
        self._count_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "ServerlessBackend is not picklable; pickle the Embedder, which carries the settings."
        )

    @property
    def _label(self) -> str:
        if self.provider is None:
            return self.target
        return f"{self.target} (provider {self.provider!r})"

    # -- clients -------------------------------------------------------------------------------------
    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "model": self.target,
            "provider": self.provider,
            "token": self._token,
            "timeout": float(self.settings.timeout or 60.0),
            "headers": {"User-Agent": "hfe"},
        }

    @property
    def client(self) -> Any:
        """The ``InferenceClient`` of this embedder (created on first use)."""
        if self._client is None:
            from huggingface_hub import InferenceClient, get_session

            # huggingface_hub's one shared httpx client: bounded by hfe's deadline only inside
            # hfe's requests (the deadline is a context variable), untouched for everyone else.
            with_deadlines(get_session())
            self._client = InferenceClient(**self._client_kwargs())
        return self._client

    def _new_async_client(self) -> Any:
        from huggingface_hub import AsyncInferenceClient

        return AsyncInferenceClient(**self._client_kwargs())

    def close(self) -> None:
        """Drop the clients (huggingface_hub shares its connection pool between them)."""
        self._client = None
        self._async_clients.clear()

    @property
    def _secrets(self) -> list[str]:
        held = [self._token, self.settings.token.get_secret_value() if self.settings.token else None]
        return [secret for secret in held if secret]

    def counters(self) -> dict[str, float]:
        """Requests sent and retries made."""
        return {name: float(value) for name, value in self._counts.items()}

    def _count(self, name: str) -> None:
        with self._count_lock:
            self._counts[name] += 1

    # -- facts -------------------------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        """The embedding dimension, from one probe embedding, cached."""
        if self._dimension is None:
            vectors = self.embed_batch(["dimension probe"], input_type="document", prompt="", batch_size=1)
            self._dimension = int(vectors.shape[1])
        return self._dimension

    def plan_batches(self, texts: list[str], rows: list[int], batch_size: int) -> list[list[int]]:  # noqa: ARG002
        """Small requests: ``batch_size`` if set, else 32 inputs (1 with ``pooling="mean"``), under 1 MB."""
        max_inputs = 1 if self.settings.pooling == "mean" else self._batch_size
        limits = RequestLimits(max_inputs=max_inputs, max_tokens=None, max_bytes=_SERVERLESS_MAX_BYTES)
        return plan_requests(texts, rows, limits)

    # -- requests ------------------------------------------------------------------------------------------
    def _parameters(self) -> dict[str, Any]:
        if not self._hf_inference:
            return {}
        truncation = self.settings.truncation
        if truncation == "truncate_left":
            return {"truncate": True, "truncation_direction": "left"}
        if truncation == "error":
            return {"truncate": False}
        return {}  # the server truncates by default

    def _finish(self, answer: Any, count: int) -> npt.NDArray[np.float32]:
        label = f"{self._label} ({count} input{'' if count == 1 else 's'})"
        vectors = read_vectors(answer, count, label=label, pooling=self.settings.pooling)
        return _normalized(vectors) if self.settings.normalize else vectors

    def _outcome(self, exc: Exception) -> _Outcome:
        """The outcome of a failed call: huggingface_hub's errors carry the HTTP answer."""
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

        if isinstance(exc, HfHubHTTPError) and exc.response is not None:
            outcome = classify_endpoint(
                _Scrubbed(exc.response, self._secrets),
                url=self._label,
                label=self._label,
                token_sent=self._token is not None,
            )
            if outcome.error is not None:
                _scrub_error(outcome.error, self._secrets)
            if outcome.kind == "ok":  # pragma: no cover - huggingface_hub raised on a 200
                raise ResponseFormatError(f"{self._label}: {exc}") from exc
            if outcome.kind in ("split", "absent"):
                error = outcome.error or ServerError(
                    f"{self._label} answered {exc.response.status_code}: {exc.server_message}",
                    status_code=exc.response.status_code,
                )
                return _Outcome("fail", error)
            return outcome
        if isinstance(exc, OfflineModeIsEnabled):
            raise ConfigurationError(
                f"huggingface_hub is in offline mode (HF_HUB_OFFLINE=1), so {self._label} cannot be called. "
                "Unset HF_HUB_OFFLINE (before importing huggingface_hub) to use the serverless API, or use "
                "local mode."
            ) from None
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return _Outcome(
                "retry",
                EmbeddingTimeoutError(
                    f"{self._label} did not answer in full within timeout={self._timeout:g} s, on every "
                    "attempt of the retry budget (the timeout covers the whole request). Raise timeout=, "
                    "or lower batch_size."
                ),
            )
        if isinstance(exc, httpx.TransportError):
            what = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            return _Outcome(
                "retry",
                ServerError(
                    f"Could not get an answer from {self._label} ({what}) within the "
                    "retry budget. Check your connection, or raise timeout=."
                ),
            )
        if isinstance(exc, ValueError) and _is_ragged_error(exc):
            raise token_level_error(self._label, "ragged arrays, one per text") from None
        if isinstance(exc, ValueError) and "doesn't support task" in str(exc):
            raise ConfigurationError(
                f"{self._label} is not a feature-extraction model on the serverless API ({exc}). Choose an "
                "embedding model (pipeline tag feature-extraction or sentence-similarity)."
            ) from None
        if isinstance(exc, ValueError) and "api_key" in str(exc):
            raise AuthenticationError(
                f"provider={self.provider!r} needs a Hugging Face token. {_LOGIN_HINT}"
            ) from None
        if isinstance(exc, TypeError):
            raise ResponseFormatError(
                f"{self._label} did not answer a list of vectors ({exc}). An Inference Endpoint on the "
                "default image answers {'embeddings': ...}: give its URL with url= (a dedicated endpoint)."
            ) from None
        raise exc

    def _wait_after(self, exc: Exception, state: _Attempts) -> float:
        """The wait before retrying a failed call, or raise its typed error (final, or budget spent)."""
        outcome = self._outcome(exc)
        if outcome.kind == "fail":
            assert outcome.error is not None  # noqa: S101 - fail outcomes carry their error
            raise outcome.error from None
        return self._after_failure(outcome, state)

    def _after_failure(self, outcome: _Outcome, state: _Attempts) -> float:
        wait = next_wait(outcome, state, self.policy, self._cold_wait)
        if wait is None:
            assert outcome.error is not None  # noqa: S101 - retry outcomes carry their error
            raise outcome.error
        self._count("retries")
        logger.debug("hfe: retrying %s in %.2fs: %s", self._label, wait, outcome.error)
        return wait

    @property
    def _timeout(self) -> float:
        return float(self.settings.timeout or 60.0)

    @staticmethod
    def _inputs(texts: list[str], prompt: str) -> str | list[str]:
        inputs = [server_text(prompt + text) for text in texts]
        # One text goes as a string (the API's oldest and most widely served form), a list as a list.
        return inputs[0] if len(inputs) == 1 else inputs

    def embed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,  # noqa: ARG002 - prompts are already applied
        prompt: str,
        batch_size: int,  # noqa: ARG002 - requests are planned by plan_batches
        prompt_name: str | None = None,  # noqa: ARG002 - the serverless API reports no prompts
    ) -> npt.NDArray[np.float32]:
        """One feature-extraction call, retried along the retry and cold-start budgets."""
        inputs, parameters = self._inputs(texts, prompt), self._parameters()
        state = _Attempts()
        while True:
            state.attempt += 1
            self._count("requests")
            try:
                with request_deadline(self._timeout):
                    answer = self.client.feature_extraction(inputs, **parameters)
            except _CALL_ERRORS as exc:
                time.sleep(self._wait_after(exc, state))
                continue
            return self._finish(answer, len(texts))

    async def aembed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,  # noqa: ARG002 - prompts are already applied
        prompt: str,
        batch_size: int,  # noqa: ARG002 - requests are planned by plan_batches
        prompt_name: str | None = None,  # noqa: ARG002 - the serverless API reports no prompts
    ) -> npt.NDArray[np.float32]:
        """Async twin of :meth:`embed_batch`, through ``AsyncInferenceClient``."""
        inputs, parameters = self._inputs(texts, prompt), self._parameters()
        state = _Attempts()
        while True:
            state.attempt += 1
            self._count("requests")
            try:
                client = await self._async_clients.get()
                answer = await asyncio.wait_for(
                    client.feature_extraction(inputs, **parameters), self._timeout
                )
            except (*_CALL_ERRORS, asyncio.TimeoutError) as exc:
                await asyncio.sleep(self._wait_after(exc, state))
                continue
            return self._finish(answer, len(texts))
