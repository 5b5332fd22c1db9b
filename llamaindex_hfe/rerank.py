"""``HFRerank``: a LlamaIndex node postprocessor that reranks with :class:`hfe_core.Reranker`."""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.callbacks.base import EventContext
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]  # no __all__ there
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import ConfigDict, Field

from hfe_core.adapter import RerankAdapterBase
from hfe_core.rerank import Rank

__all__ = ["DEFAULT_TOP_N", "HFRerank"]

#: Nodes kept by default: LlamaIndex's SentenceTransformerRerank (llama-index-core) keeps 2.
DEFAULT_TOP_N = 2

dispatcher = get_dispatcher(__name__)


class HFRerank(BaseNodePostprocessor, RerankAdapterBase):
    """Rerank LlamaIndex nodes with a cross-encoder: local sentence-transformers, TEI or an Endpoint.

    A node postprocessor: give it to a retriever's or query engine's ``node_postprocessors``. It
    returns the ``top_n`` best nodes, best first, as new ``NodeWithScore`` objects whose ``score``
    is the reranker's: the model's sigmoid (0..1), or its logit with ``raw_scores=True``. A node is
    scored on its content as embedded (``MetadataMode.EMBED``). Every other field is documented on
    :class:`hfe_core.RerankerSettings` (local mode's default model is ``BAAI/bge-reranker-base``);
    ``to_dict()``, ``to_json()``, ``repr`` and pickles never contain the token.

    Example:
        >>> from llama_index.core import Document, Settings, VectorStoreIndex
        >>> from llamaindex_hfe import HFEmbedding
        >>> Settings.embed_model = HFEmbedding()
        >>> index = VectorStoreIndex.from_documents(
        ...     [Document(text="Paris is in France."), Document(text="Berlin is in Germany.")])
        >>> retriever = index.as_retriever(similarity_top_k=10)
        >>> rerank = HFRerank(url="http://localhost:8080", top_n=1)
        >>> nodes = rerank.postprocess_nodes(
        ...     retriever.retrieve("Where is Paris?"), query_str="Where is Paris?")  # doctest: +SKIP
        >>> nodes[0].text  # doctest: +SKIP
        'Paris is in France.'
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    top_n: int = Field(
        default=DEFAULT_TOP_N,
        ge=0,
        description="Nodes to keep, the best first (2, as LlamaIndex's SentenceTransformerRerank).",
    )
    keep_retrieval_score: bool = Field(
        default=False,
        description="Keep each node's retrieval score in its metadata['retrieval_score'] (on a copy "
        "of the node), as LlamaIndex's rerankers do.",
    )

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex stores in serialized components."""
        return "HFRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._start(nodes, query_bundle)
        if not texts:
            return []
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._payload(nodes, query)) as event:
            return self._end(event, nodes, self.reranker.rerank(query, texts, self.top_n))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._start(nodes, query_bundle)
        if not texts:
            return []
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._payload(nodes, query)) as event:
            return self._end(event, nodes, await self.reranker.arerank(query, texts, self.top_n))

    # -- what both share: LlamaIndex's events and the nodes in and out --------------------------------
    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[str, list[str]]:
        if query_bundle is None:
            raise ValueError(
                "HFRerank needs the query: call postprocess_nodes(nodes, query_str=...) or pass a "
                "QueryBundle (retrievers and query engines do)."
            )
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n,
                model_name=self.model or self.url or self.endpoint_name or "unknown",
            )
        )
        return query_bundle.query_str, [
            scored.node.get_content(metadata_mode=MetadataMode.EMBED) for scored in nodes
        ]

    def _payload(self, nodes: list[NodeWithScore], query: str) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model or self.url,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: self.top_n,
        }

    def _end(self, event: EventContext, nodes: list[NodeWithScore], ranks: list[Rank]) -> list[NodeWithScore]:
        ranked: list[NodeWithScore] = []
        for index, score in ranks:
            node = nodes[index].node
            if self.keep_retrieval_score:
                metadata = {**node.metadata, "retrieval_score": nodes[index].score}
                node = node.model_copy(update={"metadata": metadata})
            ranked.append(NodeWithScore(node=node, score=score))
        event.on_end(payload={EventPayload.NODES: ranked})
        dispatcher.event(ReRankEndEvent(nodes=ranked))
        return ranked
