"""Replay real recorded Hugging Face HTTP interactions through vcrpy, whatever format they were recorded in.

Three formats are read, each into vcrpy's own request/response structures, with the recorded bytes untouched:

- vcrpy YAML (``interactions:``), loaded by vcrpy's own deserializer;
- Ruby VCR YAML (``http_interactions:``, e.g. langchainrb): ``request: {method, uri, body: {string},
  headers}``, ``response: {status: {code, message}, headers, body: {string | base64_string}}``;
- huggingface.js tapes (``*.json``: ``{key: {url, init: {headers, method, body}, response: {body, status,
  statusText, headers}}}``); keys starting with ``_`` (the ``_source`` note of an extract) are skipped.

``replay()`` uses a read-only vcrpy persister and ``record_mode="none"``: a request that matches no
unplayed interaction raises ``vcr.errors.CannotOverwriteExistingCassetteException``; nothing is ever
written or sent.
vcrpy patches ``httpx.HTTPTransport`` / ``AsyncHTTPTransport``, so the clients huggingface_hub builds with
``get_session()`` / ``get_async_session()`` (sync ``InferenceClient`` and ``AsyncInferenceClient``) are
intercepted and no socket is opened. Matching interactions are played in file order, each once unless
``allow_repeats``: a recorded 503 followed by a 200 for the same call answers two successive calls.

Matchers registered on top of vcrpy's own (``method``, ``uri``, ``body``, ...):

``hf_route``: method, scheme and host compared exactly (hosts are never made equivalent: a request to
``router.huggingface.co`` never plays an ``api-inference.huggingface.co`` recording), then the path and query
after two normalizations, each an equivalence of URL forms of one and the same API call:

1. ``router.huggingface.co/hf-inference/pipeline/{task}/{model}`` is read as
   ``router.huggingface.co/hf-inference/models/{model}/pipeline/{task}``. The router served the first form
   in early 2025 (huggingface_hub 0.29/0.30, recorded at a09927331e); huggingface_hub 1.x sends the second
   form for the same hf-inference feature-extraction/sentence-similarity call.
2. ``huggingface.co/api/models/{model}`` (the model-info GET that ``InferenceClient`` makes for
   ``provider="hf-inference"``) ignores the query string: the response is the same model info, and
   huggingface_hub versions differ in the ``expand``/``expand[]`` parameters they add.

Every other query is compared as a sorted list of pairs.

``hf_inputs``: the ``inputs`` field of two JSON bodies compared (the whole body when there is no ``inputs``).
The rest of the envelope differs between client versions for the same call (``"parameters": {}`` in
huggingface_hub 0.2x, ``options`` in huggingface.js, nothing in huggingface_hub 1.x); ``inputs`` decides the
answer. Add it to ``match_on`` where one recording holds several calls to one route (a batch and a single
text, say).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import vcr  # type: ignore[import-untyped]
from vcr.cassette import Cassette  # type: ignore[import-untyped]
from vcr.request import Request  # type: ignore[import-untyped]
from vcr.serialize import deserialize  # type: ignore[import-untyped]
from vcr.serializers import yamlserializer  # type: ignore[import-untyped]

__all__ = [
    "A2",
    "A5",
    "A8",
    "A11",
    "A12",
    "B1",
    "B4",
    "C1",
    "CASSETTES",
    "DEFAULT_MATCH_ON",
    "Interaction",
    "hf_inputs",
    "hub_online",
    "hf_route",
    "load_interactions",
    "normalized_route",
    "recorded_bodies",
    "replay",
    "tape_key",
]

CASSETTES = Path(__file__).resolve().parent / "cassettes"
DEFAULT_MATCH_ON = ("method", "hf_route")
_TAPE_BASE64_PREFIX = "data:application/octet-stream;base64,"
_OLD_ROUTER = re.compile(r"^/hf-inference/pipeline/(?P<task>[^/]+)/(?P<model>.+)$")
_MODEL_INFO = re.compile(r"^/api/models/[^/]+(?:/[^/]+)?$")


# -- the recordings (tests/cassettes/README.md says where each comes from) --------------------------------
_HUB = CASSETTES / "hf_serverless" / "huggingface_hub"
_TAPES = CASSETTES / "hf_serverless" / "huggingface.js"
_FE = "[hf-inference,feature-extraction].yaml"
#: all-MiniLM-L6-v2 on api-inference: a flat 384-vector (2023-09).
A2 = (
    CASSETTES
    / "hf_inference_api"
    / "InferenceClientVCRTest.test_feature_extraction_with_sentence_transformers.yaml"
)
#: bart-base on api-inference: 503 "currently loading" (estimated_time 22.3), then 200 1x8x768 (2025-01).
A5 = _HUB / "5f9d9460d4" / f"TestInferenceClient.test_feature_extraction_with_transformers{_FE}"
#: bart-base through the router, after huggingface_hub's model-info GET: 1x8x768 (2025-03).
A8 = _HUB / "a09927331e" / f"TestInferenceClient.test_feature_extraction_with_transformers{_FE}"
#: an anonymous 429 "Rate limit reached. Please log in or use a HF access token" (2024-04).
A11 = _HUB / "53959a191d" / "InferenceApiTest.test_inference_missing_input.yaml"
#: a 400 whose ``error`` is a list (2025-01).
A12 = _HUB / "ae98fe4bf6" / "InferenceApiTest.test_inference_missing_input.yaml"
#: mxbai-embed-large-v1 on api-inference's /models/ route: a flat 1024-vector (langchainrb, 2024-05).
C1 = (
    CASSETTES
    / "hf_serverless/langchainrb/454f6ba50c"
    / "Langchain_LLM_HuggingFace_default_dimensions_when_the_dimensions_size_is_generated_by_the_model"
    "_sets_the_dimensions_to_1_024.yml"
)
#: huggingface.js, router: ragged bart-base batch, bart-base 1x7x768, distilbert flat 768 (2025-04).
B4 = _TAPES / "457119ebd1" / "tapes.feature-extraction.json"
#: huggingface.js, api-inference: 503 loading (bart-base, distilbert), then 200 distilbert, 200 bart-base.
B1 = _TAPES / "e26e61887b" / "tapes.feature-extraction.json"


@contextmanager
def hub_online() -> Iterator[None]:
    """Lift ``HF_HUB_OFFLINE`` for huggingface_hub's request hook while replaying; no socket is opened.

    huggingface_hub reads ``constants.HF_HUB_OFFLINE`` (set from the environment at import) in an httpx
    request event hook that runs before the transport vcrpy patches, so the environment variable alone
    would not do. Its lru-cached model look-ups are cleared so each replay makes its own requests.
    """
    import huggingface_hub.constants
    from huggingface_hub.inference._providers import _common as providers_common
    from huggingface_hub.inference._providers import hf_inference

    caches = (
        hf_inference._check_supported_task,
        hf_inference._fetch_recommended_models,
        providers_common._fetch_inference_provider_mapping,
    )
    before = huggingface_hub.constants.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = False
    for cache in caches:
        cache.cache_clear()
    try:
        yield
    finally:
        huggingface_hub.constants.HF_HUB_OFFLINE = before
        for cache in caches:
            cache.cache_clear()


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response, as vcrpy holds them (body bytes exactly as recorded)."""

    request: Request
    response: dict[str, Any]
    key: str | None = None  # the tape key for huggingface.js tapes

    @property
    def status(self) -> int:
        """The recorded status code."""
        return int(self.response["status"]["code"])

    @property
    def body(self) -> bytes:
        """The recorded response body."""
        body: bytes = self.response["body"]["string"]
        return body

    def json(self) -> Any:
        """The recorded response body parsed as JSON."""
        return json.loads(self.body)


def _header_lists(headers: dict[str, Any] | None) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in (headers or {}).items()}


def _from_ruby_vcr(data: dict[str, Any]) -> list[Interaction]:
    out = []
    for item in data["http_interactions"]:
        req, resp = item["request"], item["response"]
        body = req.get("body") or {}
        request = Request(
            req["method"].upper(), req["uri"], body.get("string"), _header_lists(req.get("headers"))
        )
        rbody = resp.get("body") or {}
        raw = (
            base64.b64decode(rbody["base64_string"]) if "base64_string" in rbody else rbody["string"].encode()
        )
        response = {
            "status": {"code": int(resp["status"]["code"]), "message": resp["status"].get("message", "")},
            "headers": _header_lists(resp.get("headers")),
            "body": {"string": raw},
        }
        out.append(Interaction(request, response))
    return out


def _from_tapes(data: dict[str, Any]) -> list[Interaction]:
    out = []
    for key, tape in data.items():
        if key.startswith("_"):
            continue
        init, resp = tape.get("init", {}), tape["response"]
        request = Request(
            init.get("method", "GET"), tape["url"], init.get("body"), _header_lists(init.get("headers"))
        )
        text: str = resp.get("body") or ""
        raw = (
            base64.b64decode(text[len(_TAPE_BASE64_PREFIX) :])
            if text.startswith(_TAPE_BASE64_PREFIX)
            else text.encode()
        )
        response = {
            "status": {"code": int(resp["status"]), "message": resp.get("statusText", "")},
            "headers": _header_lists(resp.get("headers")),
            "body": {"string": raw},
        }
        out.append(Interaction(request, response, key))
    return out


def load_interactions(path: Path | str, serializer: Any = yamlserializer) -> list[Interaction]:
    """Read a recording in any of the three formats, in file order."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return _from_tapes(json.loads(text))
    data = serializer.deserialize(text)  # vcrpy's safe YAML loader
    if isinstance(data, dict) and "http_interactions" in data:
        return _from_ruby_vcr(data)
    requests, responses = deserialize(text, serializer)  # vcrpy's own cassette format
    return [Interaction(req, resp) for req, resp in zip(requests, responses, strict=True)]


def recorded_bodies(path: Path | str) -> list[Any]:
    """The recorded response bodies parsed as JSON, in file order (read independently of any replay)."""
    return [interaction.json() for interaction in load_interactions(path)]


def tape_key(url: str, method: str | None, body: str | None) -> str:
    """The huggingface.js tape key ``sha256(JSON.stringify({url, method, body}))``, absent fields left out."""
    obj = {
        "url": url,
        **{name: value for name, value in (("method", method), ("body", body)) if value is not None},
    }
    return hashlib.sha256(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def normalized_route(uri: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """(scheme, host, path, sorted query) with the two URL-form equivalences of the module docstring."""
    parts = urlsplit(uri)
    host, path = parts.netloc.lower(), parts.path or "/"
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    old = _OLD_ROUTER.match(path)
    if host == "router.huggingface.co" and old:
        path = f"/hf-inference/models/{old['model']}/pipeline/{old['task']}"
    if host == "huggingface.co" and _MODEL_INFO.match(path):
        query = ()
    return parts.scheme.lower(), host, path, query


def hf_route(r1: Request, r2: Request) -> None:
    """vcrpy matcher: method, scheme, host, normalized path and query (raises AssertionError on mismatch)."""
    if r1.method != r2.method:
        raise AssertionError(f"{r1.method} != {r2.method}")
    route1, route2 = normalized_route(r1.uri), normalized_route(r2.uri)
    if route1 != route2:
        raise AssertionError(f"{route1} != {route2}")


def _inputs(request: Request) -> Any:
    body = request.body
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return data["inputs"] if isinstance(data, dict) and "inputs" in data else data


def hf_inputs(r1: Request, r2: Request) -> None:
    """vcrpy matcher: the ``inputs`` of two JSON bodies (raises AssertionError on mismatch)."""
    if _inputs(r1) != _inputs(r2):
        raise AssertionError(f"inputs differ: {_inputs(r1)!r} != {_inputs(r2)!r}")


class _ReadOnlyPersister:
    """A vcrpy persister that loads any of the three formats and refuses to save."""

    def __init__(self, select: Sequence[int] | None) -> None:
        self.select = select

    def load_cassette(
        self, cassette_path: str, serializer: Any
    ) -> tuple[list[Request], list[dict[str, Any]]]:
        interactions = load_interactions(cassette_path, serializer)
        if self.select is not None:
            interactions = [interactions[index] for index in self.select]
        return [i.request for i in interactions], [i.response for i in interactions]

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        raise RuntimeError(f"recordings are read-only: refusing to write {cassette_path}")


@contextmanager
def replay(
    path: Path | str,
    *,
    match_on: Sequence[str] = DEFAULT_MATCH_ON,
    allow_repeats: bool = False,
    select: Sequence[int] | None = None,
) -> Iterator[Cassette]:
    """Replay a recording (vcrpy YAML, Ruby VCR YAML or huggingface.js tape JSON) for the enclosed code.

    Args:
        path: the recording.
        match_on: vcrpy matcher names; ``hf_route`` and ``hf_inputs`` are registered in addition to vcrpy's.
        allow_repeats: let one recorded interaction answer several requests.
        select: indices (file order, see ``load_interactions``) of the only interactions to replay.

    Yields:
        The vcrpy cassette (``play_count``, ``all_played``, ``requests`` ...).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    recorder = vcr.VCR(record_mode="none", match_on=tuple(match_on))
    recorder.register_matcher("hf_route", hf_route)
    recorder.register_matcher("hf_inputs", hf_inputs)
    recorder.register_persister(_ReadOnlyPersister(select))
    with recorder.use_cassette(str(path), allow_playback_repeats=allow_repeats) as cassette:
        if len(cassette) == 0:
            raise ValueError(f"no interaction to replay in {path}")
        yield cassette
