"""Run the TEI-protocol test server in the foreground.

    python -m tests.tei_server --port 8080 --version 1.8.3 --api-key X --fail-429 0.1

Every :class:`TEIConfig` field is an option (``--max-client-batch-size 8``, ``--vectors hash``,
``--auto-truncate false``, ``--prompts '{"query": "query: "}'``...). ``--model-type reranker`` or
``--model-type splade`` serves a re-ranker (``/rerank``) or SPLADE model (``/embed_sparse``): the
folder given with ``--model-path``, else a tiny model built from a config (``tests/tiny_models.py``).
Prints one line ``listening on http://127.0.0.1:PORT`` once the port accepts connections; stops on
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import types
import typing
from typing import Any

from .config import TEIConfig
from .server import TEIApp, serve
from .stats import ServerStats

_SKIP = {"extra"}


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(convert: Any) -> Any:
    def parse(text: str) -> Any:
        return None if text.strip().lower() in ("none", "null") else convert(text)

    return parse


def _converter(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return _optional(_converter(inner))
    if annotation is bool:
        return _bool
    if annotation in (int, float, str):
        return annotation
    if typing.get_origin(annotation) is dict or annotation is dict:
        return json.loads
    raise TypeError(f"no command-line form for {annotation!r}")


def build_parser() -> argparse.ArgumentParser:
    """One option per ``TEIConfig`` field, plus ``--port``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.tei_server", description="TEI-protocol test server (loopback only)."
    )
    parser.add_argument("--port", type=int, default=3000, help="TCP port (0 = any free port; default 3000)")
    hints = typing.get_type_hints(TEIConfig)
    for field in dataclasses.fields(TEIConfig):
        if field.name in _SKIP:
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_converter(hints[field.name]),
            default=argparse.SUPPRESS,
            help=f"(default: {default!r})",
        )
    return parser


async def _main(config: TEIConfig, port: int) -> None:
    stats = ServerStats()
    app = TEIApp(config, stats)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass

    def listening(bound: int) -> None:
        host = f"[{config.host}]" if ":" in config.host else config.host
        print(f"listening on http://{host}:{bound}", flush=True)

    await serve(app, port, stop, listening)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve until interrupted."""
    args = vars(build_parser().parse_args(argv))
    port = args.pop("port")
    try:
        config = TEIConfig(**args)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_main(config, port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
