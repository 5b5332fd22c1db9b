"""The ``hfe`` command line. ``hfe info URL`` describes a Text Embeddings Inference server.

Example::

    $ hfe info http://localhost:8080
    url                    http://localhost:8080
    model                  sentence-transformers/all-MiniLM-L6-v2
    version                1.9.3
    ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from hfe_core.errors import HfeError

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from hfe_core.embedder import Embedder

    embedder = Embedder(mode="tei", url=args.url, api_key=args.api_key, timeout=args.timeout)
    backend = embedder.backend
    info = backend.info  # type: ignore[attr-defined]
    rows = {
        "url": backend.base_url,  # type: ignore[attr-defined]
        "model": info.model_id,
        "served model name": info.served_model_name,
        "version": info.version,
        "max input tokens": info.max_input_length,
        "max client batch size": info.max_client_batch_size,
        "max batch tokens": info.max_batch_tokens,
        "max concurrent requests": info.max_concurrent_requests,
        "auto truncate": info.auto_truncate,
        "embedding dimension": embedder.dimension,
    }
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(key) for key in rows)
        for key, value in rows.items():
            print(f"{key:<{width}}  {'-' if value is None else value}")
    embedder.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hfe`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on an hfe error.
    """
    parser = argparse.ArgumentParser(prog="hfe", description="Hugging Face embeddings: hfe's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="describe a Text Embeddings Inference server")
    info.add_argument("url", help="the server's root URL, e.g. http://localhost:8080")
    info.add_argument("--api-key", default=None, help="the server's --api-key (default: $TEI_API_KEY)")
    info.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=_info)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except HfeError as exc:
        print(f"hfe: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
