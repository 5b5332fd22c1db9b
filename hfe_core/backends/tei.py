"""tei mode: a Text Embeddings Inference server, through its native ``/embed`` route.

* ``GET /info`` is read once, lazily, and every request is planned under the
  server's limits (:mod:`hfe_core.batching`); a server without ``/info`` gets
  TEI's defaults.
* One pooled httpx client per embedder (keep-alive, explicit connect and read
  timeouts), sync and async; requests in flight are bounded by an adaptive
  limit that halves on 429 and keeps the inputs in flight under the server's
  permits (TEI 1.9 answers a batch 429 at once when its permits are short).
* Every answer is mapped to the error tree at one place, :func:`classify`;
  transient failures are retried along :class:`~hfe_core.retry.RetryPolicy`.
* TEI 1.8 and 1.9 differ (validation errors 413 vs 422, ``auto_truncate``
  default, lowercase directions): hfe sends ``truncate`` explicitly and
  ``Right``/``Left`` capitalised, and reads both statuses.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ClassVar

import httpx
import numpy as np
import numpy.typing as npt

from hfe_core.answers import check_dimension, parse_json, read_json_vectors, read_openai_vectors
from hfe_core.auth import EXPLICIT_TOKEN_SOURCES
from hfe_core.backends.base import Backend
from hfe_core.batching import RequestLimits, plan_requests
from hfe_core.config import EmbedderSettings, InputType
from hfe_core.errors import (
    ConfigurationError,
    EmbeddingError,
    EmbeddingTimeoutError,
    NotFoundError,
    RequestRejectedError,
    ServerError,
)
from hfe_core.model_files import model_input_limit
from hfe_core.tokenizer import ClientTokenizer, find_tokenizer
from hfe_core.transport.responses import (
    HTTPResponse,
    _loads,
    classify,
)
from hfe_core.transport.server import RequestStats, ServerInfo, ServerTransport, encode_body
from hfe_core.truncation import Span
from hfe_core.validation import server_text

__all__ = ["RequestStats", "ServerInfo", "TEIBackend", "classify", "model_input_limit"]

logger = logging.getLogger("hfe")


_TEI_CHARS_PER_TOKEN = 250  # TEI refuses texts over max_input_length x 250 characters


class TEIBackend(ServerTransport, Backend):
    """The embed task on a Text Embeddings Inference server (``/embed``, or ``/v1/embeddings``).

    The connection (URL, clients, ``/info``, permits, retries) is
    :class:`~hfe_core.transport.server.ServerTransport`'s; this class adds what embedding needs.
    """

    mode: ClassVar[str] = "tei"
    sort_by_length = True

    def __init__(self, settings: EmbedderSettings) -> None:
        super().__init__(settings)
        self._dimension: int | None = None
        self._overheads: dict[str, int] = {}
        self._tokenizer: ClientTokenizer | None = None
        #: "unknown" (not looked for), "none" (ask the server), "unchecked", "agreed" (the server agrees)
        self._tokenizer_state = "unknown"
        self._tokenizer_lock = threading.Lock()
        # route='openai' on a server that is not TEI: what it accepts, learned from its answers.
        self._encoding = "base64"  # "float" once the server refuses base64
        self._send_dimensions = True  # False once the server refuses `dimensions`
        self._learned_max_inputs: int | None = None  # lowered when the server refuses a batch's size
        self._listed_model: str | None = None
        self._models_read = False
        self._model_limit: int | None = None
        self._model_limit_state = "unknown"  # "unknown" (not looked for), "found", "none"
        self._facts_lock = threading.RLock()  # the limit is looked for by model id, which may list /models
        if settings.route == "openai" and not settings.normalize:
            raise ConfigurationError(
                "route='openai' always returns normalized vectors (/v1/embeddings has no normalize "
                "field); use route='native' for normalize=False."
            )

    # -- server facts -------------------------------------------------------------------------
    def warm_up(self) -> bool:
        """Read ``/info`` now if it was not read yet; refuse a truncation policy that cannot be kept.

        Raises:
            ConfigurationError: ``truncation`` is ``"error"``, ``"chunk"`` or ``"truncate_left"`` and
                the model's input limit is unknown (see :meth:`require_input_limit`).
        """
        done = self._info is None
        _ = self.info
        self.require_input_limit(self.settings.truncation or "truncate")
        return done

    @property
    def model_id(self) -> str | None:
        """The ``model`` setting, else the served model's id.

        That is ``/info``'s ``model_id`` (unless a path, as IE's ``/repository``), or on an
        OpenAI-compatible server the one model that ``/models`` lists.
        """
        if self.settings.model:
            return self.settings.model
        served = self.info.model_id
        if served:
            return served if not served.startswith("/") else None
        return self._served_model() if self._openai_server else None

    def _served_model(self) -> str | None:
        """The one model an OpenAI-compatible server lists at ``GET {base}/models`` (read once).

        Raises:
            ConfigurationError: the server lists several models and ``model=`` names none of them.
        """
        if not self._models_read:
            with self._facts_lock:
                if not self._models_read:
                    self._listed_model = self._read_models()
                    self._models_read = True
        return self._listed_model

    def _read_models(self) -> str | None:
        route = f"{self._resolved_prefix}/models"
        try:
            response = self._send_sync(lambda: self.client.get(route), route=route)
        except EmbeddingError as exc:  # an optional route: the embedding request says what is wrong
            logger.debug("hfe: could not list the models of %s: %s", self._scrub(self.base_url), exc)
            return None
        if response is None:
            return None
        try:
            listed = _loads(response).get("data")
            names = [str(item["id"]) for item in listed if isinstance(item, dict) and item.get("id")]
        except (ValueError, TypeError, AttributeError, KeyError):
            return None
        if len(names) > 1:
            raise ConfigurationError(
                f"{self._scrub(self.base_url)}{route} serves {len(names)} models ({', '.join(names)}): pass "
                "model= with the one to use."
            )
        return names[0] if names else None

    @property
    def max_input_tokens(self) -> int | None:
        """The limit per input in tokens (prompt and special tokens included), or ``None``.

        ``/info``'s ``max_input_length`` (the server's own, authoritative); else the
        ``max_input_length`` setting (for a server started with a lower limit than its model's, such
        as vLLM's ``--max-model-len``); else the model's own (``sentence_bert_config.json``
        ``max_seq_length``, then ``tokenizer_config.json`` ``model_max_length``; see
        :func:`model_input_limit`); else ``None``, said once at WARNING.
        """
        if self.info.max_input_length:
            return self.info.max_input_length
        if self.settings.max_input_length:
            return self.settings.max_input_length
        return self._limit_from_model()

    def _limit_from_model(self) -> int | None:
        if self._model_limit_state == "unknown":
            with self._facts_lock:
                if self._model_limit_state == "unknown":
                    found = self._find_model_limit()
                    self._model_limit = found
                    self._model_limit_state = "found" if found else "none"
        return self._model_limit

    def _find_model_limit(self) -> int | None:
        settings = self.settings
        model = self.model_id
        found = (
            model_input_limit(
                model,
                revision=settings.revision,
                cache_folder=settings.cache_folder,
                token=self._model_files_token,
            )
            if model
            else None
        )
        if found is not None:
            logger.info(
                "hfe: %s does not report its input limit; using %d tokens, %s of %s.",
                self._scrub(self.base_url),
                found[0],
                found[1],
                model,
            )
            return found[0]
        if self.mode == "tei":  # endpoint mode's images that are not TEI keep their own behaviour
            logger.warning(
                "hfe: the truncation policy cannot be enforced: %s does not report its input limit (no "
                "TEI /info) and hfe found none for %s. Long inputs are sent whole and cut (or refused) by "
                "the server as it decides, and last_stats.truncated does not count them. Pass "
                "max_input_length= (the served model's limit in tokens), or model= with its Hub id or a "
                "local path.",
                self._scrub(self.base_url),
                f"model {model!r}" if model else "the model (no model= given, none reported)",
            )
        return None

    @property
    def _model_files_token(self) -> str | bool:
        """The token the Hub may get for a model's files: a Hugging Face one only, never the server's key."""
        settings = self.settings
        if settings.token is None or settings.token_source in EXPLICIT_TOKEN_SOURCES:
            return False
        return settings.token.get_secret_value()

    def require_input_limit(self, policy: str) -> None:
        """Refuse a truncation policy that needs the model's input limit when it is unknown.

        ``"error"``, ``"chunk"`` and ``"truncate_left"`` count, split or cut inputs client-side at the
        limit; without one, inputs would reach the server whole, and be cut there, silently.

        Raises:
            ConfigurationError: the limit is unknown, naming what to pass.
        """
        if policy not in ("error", "chunk", "truncate_left") or self.mode != "tei":
            return
        if policy == "truncate_left" and self.truncates_left:
            return  # TEI's native route keeps the end of long inputs itself
        if self.max_input_tokens:
            return
        model = self.model_id
        raise ConfigurationError(
            f"truncation={policy!r} needs the model's input limit, which {self._scrub(self.base_url)} does "
            "not report (no TEI /info) and hfe could not find for "
            f"{f'model {model!r}' if model else 'the served model (no model= given, none reported)'} "
            "(sentence_bert_config.json max_seq_length or tokenizer_config.json model_max_length, in a local "
            "folder, a packaged model or the Hugging Face cache). Pass max_input_length= (the served model's "
            "limit in tokens), or model= with its Hub id or a local path; or use truncation='truncate' to "
            "let the server cut long inputs."
        )

    @property
    def dimension(self) -> int:
        """The embedding dimension, from one probe embedding (``/info`` does not say), cached."""
        if self._dimension is None:
            vectors = self.embed_batch(["dimension probe"], input_type="document", prompt="", batch_size=1)
            self._dimension = int(vectors.shape[1])
        return self._dimension

    def _limits_for_requests(self, batch_size: int) -> RequestLimits:
        info = self.info
        max_inputs = min(info.max_client_batch_size, self._server_permits)
        if "batch_size" in self.settings.model_fields_set:
            max_inputs = min(max_inputs, batch_size)
        if self._learned_max_inputs is not None:
            max_inputs = min(max_inputs, self._learned_max_inputs)
        return RequestLimits(
            max_inputs=max(1, max_inputs),
            max_tokens=info.max_batch_tokens,
            max_bytes=int(self._payload_limit * 0.95),
            max_input_tokens=self.max_input_tokens,
        )

    @property
    def _payload_limit(self) -> int:
        return 2_000_000

    def plan_batches(self, texts: list[str], rows: list[int], batch_size: int) -> list[list[int]]:
        """Requests under every limit of the server (inputs, tokens, bytes, permits)."""
        return plan_requests(texts, rows, self._limits_for_requests(batch_size))

    # -- tokenization (for the truncation policy) ----------------------------------------------
    # -- the model's own tokenizer, client-side ----------------------------------------------------
    @property
    def tokenizes_remotely(self) -> bool:  # type: ignore[override]
        """True until the client-side tokenizer is found and the server agrees with it."""
        return self._client_tokenizer() is None or self._tokenizer_state != "agreed"

    @property
    def truncates_left(self) -> bool:  # type: ignore[override]
        """TEI's native route keeps the end of a long input itself (``truncation_direction: Left``)."""
        return self.settings.route != "openai" and self.settings.truncation == "truncate_left"

    #: The count of truncated inputs runs beside the embedding: the client-side tokenizer is this
    #: backend's own (or the server's /tokenize), so nothing else changes its settings meanwhile.
    counts_in_background = True

    @property
    def truncates_itself(self) -> bool:  # type: ignore[override]
        """False on the OpenAI route of a TEI whose ``auto_truncate`` is off (every TEI up to 1.8).

        ``/v1/embeddings`` has no ``truncate`` field: TEI applies ``auto_truncate`` there, and with it
        off answers a too-long input with 413/422, failing its whole batch.
        """
        return not (self.settings.route == "openai" and self.info.auto_truncate is False)

    def _client_tokenizer(self) -> ClientTokenizer | None:
        """The served model's tokenizer, looked for once; ``None``: the server tokenizes."""
        if self._tokenizer_state == "unknown":
            with self._tokenizer_lock:
                if self._tokenizer_state == "unknown":
                    settings = self.settings
                    self._tokenizer = find_tokenizer(
                        self.model_id,
                        revision=settings.revision,
                        cache_folder=settings.cache_folder,
                        token=settings.token.get_secret_value() if settings.token else None,
                    )
                    self._tokenizer_state = "unchecked" if self._tokenizer else "none"
        return self._tokenizer if self._tokenizer_state != "none" else None

    def _checked_tokenizer(self, texts: list[str]) -> ClientTokenizer | None:
        """The client-side tokenizer once the server agrees with it on ``texts`` (one ``/tokenize``)."""
        tokenizer = self._client_tokenizer()
        if tokenizer is None or self._tokenizer_state == "agreed":
            return tokenizer
        witnesses = [text for text in texts if text.strip()]
        if not witnesses:
            return None  # nothing to compare on yet: the server tokenizes this call
        with self._tokenizer_lock:
            if self._tokenizer_state == "unchecked":
                try:
                    agreed = tokenizer.agrees_with(self._server_spans, witnesses)
                except NotFoundError:
                    agreed = True  # no /tokenize to compare with: the model's own file is the best there is
                    logger.info(
                        "hfe: %s has no /tokenize; using %s unchecked.", self.base_url, tokenizer.source
                    )
                if agreed:
                    self._tokenizer_state = "agreed"
                    logger.debug("hfe: tokenizing client-side with %s", tokenizer.source)
                else:
                    self._tokenizer_state = "none"
                    logger.warning(
                        "hfe: %s tokenizes differently from the server at %s; asking the server's /tokenize "
                        "instead (slower). Is the served model %r?",
                        tokenizer.source,
                        self.base_url,
                        self.model_id,
                    )
        return tokenizer if self._tokenizer_state == "agreed" else None

    def token_spans(self, texts: list[str]) -> list[list[Span]]:
        """Character spans of each text's tokens, special tokens left out.

        Client-side with the model's own tokenizer once the server agrees with it
        (:mod:`hfe_core.tokenizer`); else from the server's ``/tokenize``.
        """
        tokenizer = self._checked_tokenizer(texts)
        if tokenizer is not None:
            return tokenizer.spans(texts)
        return self._server_spans(texts)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens left out: :meth:`token_spans` without the spans.

        Client-side this skips the character offsets (what counting truncated inputs needs).
        """
        tokenizer = self._checked_tokenizer(texts)
        if tokenizer is not None:
            return tokenizer.counts(texts)
        return [len(spans) for spans in self._server_spans(texts)]

    def _server_spans(self, texts: list[str]) -> list[list[Span]]:
        """Character spans of each text's tokens, from the server's ``/tokenize``.

        TEI refuses to tokenize more than ``max_input_length x 250`` characters at once, so
        longer texts are tokenized in pieces cut before a whitespace, and the spans joined.
        """
        limit = (self.info.max_input_length or 0) * _TEI_CHARS_PER_TOKEN or None
        pieces: list[str] = []
        owners: list[tuple[int, int]] = []  # (text index, character offset of the piece)
        for index, text in enumerate(texts):
            for offset, piece in _pieces(text, limit):
                pieces.append(piece)
                owners.append((index, offset))
        spans: list[list[Span]] = [[] for _ in texts]
        limits = self._limits_for_requests(self.info.max_client_batch_size)
        requests = plan_requests(pieces, list(range(len(pieces))), limits)

        def tokenize(request: list[int]) -> Any:
            batch = [pieces[row] for row in request]
            response = self._send_sync(partial(self._tokenize, batch, special=False), route="/tokenize")
            if response is None:
                raise NotFoundError(
                    f"{self.base_url} has no /tokenize route, which truncation='error', 'truncate_left' "
                    "and 'chunk' need. Use truncation='truncate'.",
                    status_code=404,
                )
            return _loads(response)

        # /tokenize takes no permit on the server: send these requests side by side.
        workers = max(1, min(self.max_concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfe-tokenize") as pool:
            answers = list(pool.map(tokenize, requests))
        for request, answer in zip(requests, answers, strict=True):
            for row, tokens in zip(request, answer, strict=True):
                index, offset = owners[row]
                spans[index].extend(
                    (start + offset, stop + offset) for start, stop in _char_spans(pieces[row], tokens)
                )
        return spans

    def _tokenize(self, texts: list[str], *, special: bool) -> httpx.Response:
        return self.client.post(
            "/tokenize", content=encode_body({"inputs": texts, "add_special_tokens": special})
        )

    def prompt_overhead(self, prompt: str, prompt_name: str | None = None) -> int:
        """Special tokens plus the prompt's tokens; measured once per prompt.

        Client-side once the tokenizer is checked, else with ``/tokenize``; a server prompt
        (``prompt_name``), whose text hfe does not know, is always measured by the server.
        """
        key = f"\0{prompt_name}" if prompt_name else prompt
        if key not in self._overheads:
            tokenizer = self._client_tokenizer() if self._tokenizer_state == "agreed" else None
            if prompt_name:
                with _PROMPTS_LOCK:
                    known = _NAMED_OVERHEADS.get((self.base_url, prompt_name))
                measured = known if known is not None else self._measure_named_overhead(prompt_name)
                with _PROMPTS_LOCK:
                    _NAMED_OVERHEADS[(self.base_url, prompt_name)] = measured
            elif tokenizer is not None:
                measured = tokenizer.overhead(prompt)
            else:
                measured = self._measure_overhead(prompt)
            self._overheads[key] = measured
        return self._overheads[key]

    def _measure_overhead(self, prompt: str) -> int:
        response = self._send_sync(partial(self._tokenize, [prompt or "a"], special=True), route="/tokenize")
        if response is None:
            return 2
        with_specials = response.json()[0]
        specials = sum(1 for token in with_specials if token.get("special"))
        return specials + (len(with_specials) - specials if prompt else 0)

    def _measure_named_overhead(self, prompt_name: str) -> int:
        # "a" with the server's prompt and the special tokens, less the one token of "a".
        body = {"inputs": ["a"], "add_special_tokens": True, "prompt_name": prompt_name}
        response = self._send_sync(
            lambda: self.client.post("/tokenize", content=encode_body(body)), route="/tokenize"
        )
        return 2 if response is None else max(0, len(response.json()[0]) - 1)

    # -- the served model's own prompts (TEI's prompt_name) ----------------------------------------
    def server_prompt_names(self) -> frozenset[str]:
        """Names of the served model's prompts, which TEI applies itself when a request names one.

        TEI does not list them anywhere, but it answers an unknown ``prompt_name`` with a validation
        error that does (``Available prompts: [...]``, 422 from 1.9, 413 before), or says there are
        none. hfe asks once per server, on ``/tokenize`` (which holds no permit), and remembers the
        answer for every embedder of the process. ``route="openai"`` has no ``prompt_name``: none.
        """
        if self.settings.route == "openai":
            return frozenset()
        key = self.base_url
        with _PROMPTS_LOCK:
            known = _SERVER_PROMPTS.get(key)
        if known is None:
            known = self._discover_prompt_names()
            with _PROMPTS_LOCK:
                _SERVER_PROMPTS[key] = known
            logger.debug("hfe: %s has the prompts %s", self.base_url, sorted(known) or "(none)")
        return known

    def _discover_prompt_names(self) -> frozenset[str]:
        body = {"inputs": ["a"], "add_special_tokens": False, "prompt_name": _PROMPT_PROBE}
        try:
            response = self._send_sync(
                lambda: self.client.post("/tokenize", content=encode_body(body)), route="/tokenize"
            )
        except RequestRejectedError as refused:
            return _prompt_names(refused.server_message or "")
        except (NotFoundError, ServerError, EmbeddingTimeoutError) as exc:
            logger.debug("hfe: could not ask %s for its prompts: %s", self.base_url, exc)
            return frozenset()
        if response is not None:  # the server took the unknown name: it does not know prompts
            logger.debug("hfe: %s ignored prompt_name; no server-side prompts", self.base_url)
        return frozenset()

    # -- embedding --------------------------------------------------------------------------------
    @property
    def _resolved_prefix(self) -> str:
        """route='openai': the OpenAI base URL's path below :attr:`base_url` (see :meth:`_set_url`)."""
        _ = self.base_url  # an endpoint's URL may be discovered: it sets the prefix too
        if self._openai_prefix is None:
            self._openai_prefix = "/v1" if self._is_tei else ""
        return self._openai_prefix

    @property
    def _path(self) -> str:
        return f"{self._resolved_prefix}/embeddings" if self.settings.route == "openai" else "/embed"

    @property
    def _label_path(self) -> str:
        """:attr:`_path` for messages: never a request (TEI's ``/v1/embeddings`` until resolved)."""
        if self.settings.route != "openai":
            return "/embed"
        prefix = self._openai_prefix
        if prefix is None:
            prefix = "/v1" if self._info is None or self._info.is_tei else ""
        return f"{prefix}/embeddings"

    def _post_sync(self, body: dict[str, Any]) -> HTTPResponse:
        return self.client.post(self._path, content=encode_body(body))

    async def _post_async(self, body: dict[str, Any]) -> HTTPResponse:
        client = await self._async_client()
        return await client.post(self._path, content=encode_body(body))

    def _body(self, texts: list[str], prompt: str, prompt_name: str | None = None) -> dict[str, Any]:
        if self.settings.route == "openai":
            return self._openai_body(texts, prompt)
        info = self.info
        limit = (info.max_input_length or 0) * _TEI_CHARS_PER_TOKEN
        inputs = [server_text(prompt + text) for text in texts]
        truncate = self.settings.truncation != "error"
        left = self.truncates_left
        if truncate and limit:
            # TEI refuses texts over max_input_length x 250 characters even with truncation on
            # (before 1.9): cut them client-side, the tokens past that point would be cut anyway.
            inputs = [
                (text[-limit:] if left else text[:limit]) if len(text) > limit else text for text in inputs
            ]
        body: dict[str, Any] = {
            "inputs": inputs,
            "truncate": truncate,
            # Capitalised: TEI 1.8 refuses "left"/"right" (accepted from 1.9).
            "truncation_direction": "Left" if left else "Right",
            **({"prompt_name": prompt_name} if prompt_name else {}),
            "normalize": self.settings.normalize,
            **self._server_dimensions,
        }
        return body

    def _openai_body(self, texts: list[str], prompt: str) -> dict[str, Any]:
        """The body of ``POST {base}/embeddings``.

        It has no ``truncate``, ``prompt_name`` or ``normalize``: prompts are put before the texts
        here; long inputs are cut client-side under the truncation policy (or by the server, under
        ``truncate``, past which the texts are cut at ``limit x 250`` characters, as on the native
        route). ``model`` is the ``model`` setting, else the served model's name; ``dimensions``
        and base64 are asked for while the server accepts them.
        """
        limit = (self.max_input_tokens or 0) * _TEI_CHARS_PER_TOKEN
        inputs = [server_text(prompt + text) for text in texts]
        if limit and self.settings.truncation != "error":
            inputs = [text[:limit] if len(text) > limit else text for text in inputs]
        model = self._request_model()
        return {
            "input": inputs,
            **({"model": model} if model else {}),
            "encoding_format": self._encoding,
            **self._server_dimensions,
        }

    def _request_model(self) -> str | None:
        """The ``model`` of an OpenAI-style request: the ``model`` setting, else what the server serves."""
        if self.settings.model:
            return self.settings.model
        info = self.info
        if info.is_tei:
            return info.served_model_name or info.model_id or "tei"
        return self._served_model()

    @property
    def _server_dimensions(self) -> dict[str, int]:
        """``dimensions`` for the server to cut Matryoshka vectors itself (TEI >= 1.8, both routes).

        Older servers get no field and the vectors are cut client-side, as in every mode; the cut is
        the same (the first values, then normalized), so the vectors are too.
        """
        wanted = self.settings.dimensions
        if wanted is None:
            return {}
        if self._openai_server:  # sent until the server refuses it (then cut client-side)
            return {"dimensions": wanted} if self._send_dimensions else {}
        if self.info.version_tuple < _DIMENSIONS_SINCE:
            return {}
        return {"dimensions": wanted}

    def _request_label(self, count: int) -> str:
        """The request, as error messages name it: URL and route (credentials scrubbed), input count."""
        return f"{self._scrub(self.base_url)}{self._label_path} ({count} input{'s' if count != 1 else ''})"

    def _read(self, response: HTTPResponse, count: int) -> npt.NDArray[np.float32]:
        """The checked vectors of a 200 answer (:mod:`hfe_core.answers`): never a vector from a bad one."""
        label = self._request_label(count)
        if self.settings.route == "openai":
            vectors = read_openai_vectors(parse_json(response.content, label=label), count, label=label)
            if self._known_openai_server:
                # TEI's /v1 answers unit vectors; another server may not (normalize is always on here).
                norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
                vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
            return vectors
        return read_json_vectors(response.content, count, label=label)

    def _parse(self, response: HTTPResponse, count: int) -> npt.NDArray[np.float32]:
        vectors = self._read(response, count)
        check_dimension(vectors, self._dimension, label=self._request_label(count))
        headers = response.headers
        self.stats.add(
            server_ms=float(headers.get("x-total-time") or 0),
            tokens=int(headers.get("x-compute-tokens") or 0),
        )
        return vectors

    def embed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,
        prompt: str,
        batch_size: int,
        prompt_name: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """One embedding request (split in two if the server refuses its size)."""
        for attempt in range(_ADAPTATIONS + 1):
            body = self._body(texts, prompt, prompt_name)
            try:
                with self._slot(len(texts)) as slot:
                    response = self._send_sync(partial(self._post_sync, body), route=self._path, slot=slot)
            except RequestRejectedError as refused:
                if attempt < _ADAPTATIONS and self._adapt(refused, body):
                    continue  # the same texts, in a form the server takes (each fallback once)
                if not self._split_on(refused, len(texts)):
                    raise
                response = None
            break
        if response is None:  # refused for its size: send each half
            options: dict[str, Any] = {"input_type": input_type, "prompt": prompt, "batch_size": batch_size}
            options["prompt_name"] = prompt_name
            return np.concatenate([self.embed_batch(half, **options) for half in self._halves(texts)])
        return self._parse(response, len(texts))

    async def aembed_batch(
        self,
        texts: list[str],
        *,
        input_type: InputType,
        prompt: str,
        batch_size: int,
        prompt_name: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """Async twin of :meth:`embed_batch`."""
        for attempt in range(_ADAPTATIONS + 1):
            body = self._body(texts, prompt, prompt_name)
            try:
                async with self._async_slot(len(texts)) as slot:
                    response = await self._send_async(
                        partial(self._post_async, body), route=self._path, slot=slot
                    )
            except RequestRejectedError as refused:
                if attempt < _ADAPTATIONS and self._adapt(refused, body):
                    continue
                if not self._split_on(refused, len(texts)):
                    raise
                response = None
            break
        if response is None:
            options: dict[str, Any] = {"input_type": input_type, "prompt": prompt, "batch_size": batch_size}
            options["prompt_name"] = prompt_name
            return np.concatenate([await self.aembed_batch(half, **options) for half in self._halves(texts)])
        return self._parse(response, len(texts))

    def _adapt(self, refused: RequestRejectedError, body: dict[str, Any]) -> bool:
        """Stop asking for what an OpenAI-compatible server refused (base64, ``dimensions``).

        Judged on the ``body`` that was sent (another thread may have switched already: it is sent
        again all the same). Each fallback changes the request once, so the caller's loop ends.

        Returns:
            True when the request changed and should be sent again.
        """
        if self.settings.route != "openai" or refused.status_code not in (400, 422):
            return False
        said = (refused.server_message or "").lower()
        if body.get("encoding_format") == "base64" and ("encoding_format" in said or "base64" in said):
            self._encoding = "float"
            logger.info("hfe: %s refused base64 vectors; asking for floats.", self._scrub(self.base_url))
            return True
        if (
            "dimensions" in body
            and self._known_openai_server
            and ("dimension" in said or "matryoshka" in said)
        ):
            self._send_dimensions = False  # never sent again to this server: no loop
            logger.info(
                "hfe: %s refused dimensions=%s; cutting the vectors client-side.",
                self._scrub(self.base_url),
                body["dimensions"],
            )
            return True
        return False

    def _split_on(self, refused: RequestRejectedError, count: int) -> bool:
        """Whether to send a refused request in two halves, and plan smaller ones from now on.

        An OpenAI-compatible server that is not TEI says no batch limit beforehand: its 422 for a
        request of several inputs may refuse the request's size.
        """
        if count < 2 or refused.status_code != 422 or not self._openai_server:
            return False
        self._learned_max_inputs = min(self._learned_max_inputs or count, max(1, count // 2))
        logger.debug(
            "hfe: %s refused %d inputs at once (%s); halving", self._scrub(self.base_url), count, refused
        )
        return True

    def _halves(self, texts: list[str]) -> tuple[list[str], list[str]]:
        """The two halves of a request the payload limit refused; one input alone cannot be split."""
        half = len(texts) // 2
        if half == 0:
            raise self._too_large(texts)
        self.stats.add(split_for_payload=1)
        return texts[:half], texts[half:]

    def _too_large(self, texts: list[str]) -> RequestRejectedError:
        return RequestRejectedError(
            f"{self._scrub(self.base_url)}{self._label_path} refused a request with one input of "
            f"{len(texts[0])} characters (413): it is over the server's payload limit (TEI's "
            "--payload-limit, 2 MB by default). Shorten the text, or raise the server's limit.",
            status_code=413,
        )


#: Fallbacks of one request after a refusal (floats for base64, no ``dimensions``): each changes it once.
_ADAPTATIONS = 2
#: The first TEI release that cuts Matryoshka vectors itself (``dimensions``, commit 45df4fa).
_DIMENSIONS_SINCE = (1, 8)
#: A prompt name no model has: TEI's answer to it lists the model's prompts.
_PROMPT_PROBE = "__hfe_list_prompts__"
#: The prompt names of each server (by URL), asked once per process.
_SERVER_PROMPTS: dict[str, frozenset[str]] = {}
#: Tokens each server prompt adds (by URL and name), measured once per process.
_NAMED_OVERHEADS: dict[tuple[str, str], int] = {}
_PROMPTS_LOCK = threading.Lock()
_RUST_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _prompt_names(message: str) -> frozenset[str]:
    """The names in TEI's ``... Available prompts: ["query", "document"]`` (none if it says none)."""
    listed = message.partition("Available prompts:")[2]
    names: set[str] = set()
    for raw in _RUST_STRING.findall(listed):
        try:
            names.add(json.loads(f'"{raw}"'))
        except ValueError:
            names.add(raw)
    return frozenset(names)


def _pieces(text: str, limit: int | None) -> list[tuple[int, str]]:
    """``text`` in pieces of at most ``limit`` characters, each cut before a whitespace when possible."""
    if limit is None or len(text) <= limit:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start + 1, end), text.rfind("\n", start + 1, end))
            end = cut if cut > start else end
        pieces.append((start, text[start:end]))
        start = end
    return pieces


def _char_spans(text: str, tokens: list[dict[str, Any]]) -> list[Span]:
    """Spans of non-special tokens; byte offsets (if a server sends them) become character offsets."""
    raw = [
        (token["start"], token["stop"])
        for token in tokens
        if not token.get("special") and token.get("start") is not None
    ]
    if raw and max(stop for _, stop in raw) > len(text):
        encoded = text.encode("utf-8")
        return [
            (len(encoded[:start].decode("utf-8", "ignore")), len(encoded[:stop].decode("utf-8", "ignore")))
            for start, stop in raw
        ]
    return [(int(start), int(stop)) for start, stop in raw]
