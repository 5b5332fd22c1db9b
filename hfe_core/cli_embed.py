"""``hfe embed INPUT --output OUTPUT``: the batch job of :func:`hfe_core.job.embed_file` on the command line.

Example::

    $ hfe embed corpus.jsonl -o vectors.parquet --id-field doc_id --keep title
    hfe embed: 100%|██████████| 100000/100000 [01:23<00:00, 1198.6text/s, duplicates=4877]
    100,000 records -> vectors.parquet (100,000 rows, 384 dimensions)
      embedded    95,123 distinct texts; 4,877 duplicate rows embedded once
      ...

Interrupted (Ctrl-C, a kill, a server down past the retry budget)? Run the same command again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from hfe_core.config import EmbedderSettings
from hfe_core.errors import HfeError

if TYPE_CHECKING:
    from hfe_core.engines import Engine

__all__ = ["add_embed_parser", "run_embed"]

_SETTINGS: list[tuple[str, dict[str, Any], str]] = [
    # (flag, argparse options, help); the flag's name is the EmbedderSettings field's.
    ("--mode", {"choices": ["local", "tei", "endpoint"]}, "local (default), tei or endpoint"),
    ("--model", {}, "model id or local path (local and serverless modes)"),
    ("--url", {}, "the TEI server's or the Inference Endpoint's URL"),
    ("--provider", {}, "Inference Provider for the serverless API (endpoint mode with --model)"),
    ("--endpoint-name", {}, "the Inference Endpoint's name (endpoint mode)"),
    ("--namespace", {}, "the Inference Endpoint's owner"),
    ("--device", {}, "local mode: cpu, cuda, cuda:1, mps"),
    ("--batch-size", {"type": int}, "inputs per forward pass (local) or per request"),
    ("--max-concurrency", {"type": int}, "requests in flight at once (server modes)"),
    ("--timeout", {"type": float}, "seconds to wait for one answer of a server"),
    ("--max-retries", {"type": int}, "retries of a transient failure (429, 502-504, connection errors)"),
    ("--retry-timeout", {"type": float}, "seconds one request may spend retrying"),
    ("--truncation", {"choices": ["truncate", "truncate_left", "error", "chunk"]}, "inputs over the limit"),
    ("--dimensions", {"type": int}, "Matryoshka truncation to this many dimensions"),
    ("--route", {"choices": ["native", "openai"]}, "TEI route: native /embed (default) or /v1/embeddings"),
    (
        "--precision",
        {"choices": ["float32", "int8", "uint8", "binary", "ubinary"]},
        "what the output stores: float32 (default), int8/uint8 codes (with --precision-ranges) or packed "
        "bits (binary/ubinary)",
    ),
]


def add_embed_parser(commands: Any) -> None:
    """Add ``hfe embed`` to the ``hfe`` parser's subcommands."""
    embed = commands.add_parser(
        "embed",
        help="embed every record of a file into Parquet or .npy (resumable)",
        description="Embed every record of a JSONL, CSV/TSV, Parquet or text file into a Parquet or .npy "
        "file. Work is saved chunk by chunk in OUTPUT.hfe-job/: after any interruption, run the same "
        "command again and it resumes; the output equals an uninterrupted run's.",
    )
    embed.add_argument("input", help="a .jsonl, .csv, .tsv, .parquet or .txt file (one text per line)")
    embed.add_argument(
        "-o", "--output", required=True, help="a .parquet file (id, embedding, --keep fields) or a .npy file"
    )
    files = embed.add_argument_group("input and output")
    files.add_argument(
        "--input-format",
        choices=["jsonl", "csv", "tsv", "parquet", "text"],
        default=None,
        help="the input's format (default: from its suffix)",
    )
    files.add_argument(
        "--text-field", default="text", help="the field or column holding the text (default: text)"
    )
    files.add_argument(
        "--id-field",
        default=None,
        help="the field or column holding the id (default: the record's position from 0)",
    )
    files.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="FIELD",
        help="copy this field to the output (repeatable)",
    )
    files.add_argument(
        "--input-type",
        choices=["document", "query"],
        default="document",
        help="which prompt applies: document (default) or query",
    )
    files.add_argument(
        "--on-bad-row",
        choices=["error", "skip"],
        default="error",
        help="records without a text, with a non-string or an empty text: error (default) stops before "
        "embedding and names them; skip leaves them out and lists them in the summary",
    )
    files.add_argument("--no-dedup", action="store_true", help="embed duplicate texts again (default: once)")
    files.add_argument("--chunk-size", type=int, default=1024, help="records per checkpoint (default: 1024)")
    files.add_argument(
        "--overwrite", action="store_true", help="start again, discarding earlier output and work"
    )
    files.add_argument("--no-progress", action="store_true", help="no progress bar")
    files.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    model = embed.add_argument_group(
        "embedding (the settings of hfe's Embedder; environment variables apply)"
    )
    for flag, options, text in _SETTINGS:
        model.add_argument(flag, default=None, help=text, **options)
    model.add_argument(
        "--prompt", default=None, help="text put before every input (default: the model's own)"
    )
    model.add_argument(
        "--api-key",
        default=None,
        help="a token or API key (default: HF_TOKEN / TEI_API_KEY...); prefer the environment, command lines "
        "are visible to other users",
    )
    model.add_argument("--no-normalize", action="store_true", help="keep vectors as the model returns them")
    model.add_argument(
        "--precision-ranges",
        default=None,
        metavar="FILE",
        help="--precision int8/uint8: a .npy or JSON file of 2 rows, the per-dimension minimums and maximums "
        "(e.g. hfe_core.precision.calibration_ranges of sample vectors)",
    )
    engine = embed.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=["process", "ray"],
        default="process",
        help="process (default): this process embeds; ray: Ray actors do (pip install 'hfe[ray]')",
    )
    engine.add_argument(
        "--address",
        default=None,
        help="Ray: join this cluster (e.g. auto, ray://head:10001); default: start one",
    )
    engine.add_argument(
        "--workers", type=int, default=None, help="Ray: embedder actors (default: one per CPU/GPU)"
    )
    engine.add_argument("--num-gpus", type=float, default=None, help="Ray: GPUs per actor (local mode)")
    embed.set_defaults(run=run_embed)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for flag, _, _ in _SETTINGS:
        name = flag.removeprefix("--").replace("-", "_")
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.api_key is not None:
        settings["token"] = args.api_key
    if args.no_normalize:
        settings["normalize"] = False
    if args.precision_ranges is not None:
        settings["precision_ranges"] = _read_ranges(args.precision_ranges)
    if args.prompt is not None:
        settings["query_prompt" if args.input_type == "query" else "document_prompt"] = args.prompt
    return settings


def _read_ranges(path: str) -> Any:
    """``--precision-ranges FILE``: a .npy array or a JSON list of two rows."""
    from hfe_core.errors import ConfigurationError

    try:
        if path.endswith(".npy"):
            import numpy as np

            return np.load(path, allow_pickle=False).tolist()
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"--precision-ranges {path!r} could not be read ({type(exc).__name__}: {exc}); give a .npy "
            "file or a JSON file of two rows, [minimums, maximums]."
        ) from None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (not the one it was created with)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Emit ``record`` on the current ``sys.stderr``."""
        self.stream = sys.stderr
        super().emit(record)


def _log_to_stderr() -> None:
    logger = logging.getLogger("hfe")
    if not logger.handlers:
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run_embed(args: argparse.Namespace) -> int:
    """Run ``hfe embed``; 0 when the output is complete, 1 on an hfe error, 130 on Ctrl-C."""
    _log_to_stderr()
    settings = _settings(args)
    job_options: dict[str, Any] = {
        "input_format": args.input_format,
        "text_field": args.text_field,
        "id_field": args.id_field,
        "keep": args.keep,
        "input_type": args.input_type,
        "on_bad_row": args.on_bad_row,
        "dedup": not args.no_dedup,
        "chunk_size": args.chunk_size,
        "overwrite": args.overwrite,
        "show_progress": False if args.no_progress else None,
    }
    try:
        from hfe_core.job import embed_file

        if args.engine == "ray":
            # Built by the job once its cheap checks passed: a missing input, bad records, a complete
            # job or a settings conflict are reported before Ray starts and loads models.
            job_options["engine"] = partial(
                _ray_engine, workers=args.workers, address=args.address, num_gpus=args.num_gpus
            )
        summary = embed_file(args.input, args.output, **job_options, **settings)
    except KeyboardInterrupt as exc:
        # One message: the job's (JobInterrupted) says what is kept, and only names a work folder that
        # holds finished chunks. A Ctrl-C before the job started has nothing to say about it.
        print(str(exc) or "hfe embed: interrupted before the job started.", file=sys.stderr)
        # Every finished chunk is on disk and fsynced; requests still in flight (and their retries, if the
        # server is down) would hold the interpreter's exit. Leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    except HfeError as exc:
        print(f"hfe: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.format())
    return 0


def _ray_engine(
    settings: EmbedderSettings, *, workers: int | None, address: str | None, num_gpus: float | None
) -> Engine:
    from hfe_core.ray import RayEngine

    return RayEngine(settings, workers=workers, address=address, num_gpus=num_gpus)
