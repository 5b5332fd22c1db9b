"""The ``hfe`` command line.

* ``hfe info URL`` describes a Text Embeddings Inference server.
* ``hfe embed INPUT -o OUTPUT`` embeds a whole file into Parquet or .npy, resumably
  (:mod:`hfe_core.cli_embed`).
* ``hfe deploy MODEL`` creates a Hugging Face Inference Endpoint running TEI and waits until it runs.
* ``hfe endpoint status|pause|resume|scale-to-zero|delete NAME`` and ``hfe endpoint list-hardware``
  manage endpoints.

Example::

    $ hfe info http://localhost:8080
    url                    http://localhost:8080
    model                  sentence-transformers/all-MiniLM-L6-v2
    version                1.9.3
    ...
    $ hfe deploy sentence-transformers/all-MiniLM-L6-v2
    name       all-minilm-l6-v2
    namespace  me
    status     running
    url        https://xxxx.us-east-1.aws.endpoints.huggingface.cloud
    ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from hfe_core._version import __version__
from hfe_core.cli_embed import add_embed_parser
from hfe_core.errors import ConfigurationError, HfeError

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


def _print_rows(rows: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {'-' if value is None else value}")


def _status_rows(status: Any) -> dict[str, Any]:
    rows: dict[str, Any] = status.as_dict()
    return rows


def _env_pairs(pairs: Sequence[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--env {pair!r} must look like KEY=VALUE.")
        env[key] = value
    return env


def _deploy(args: argparse.Namespace) -> int:
    from hfe_core.deploy import create_endpoint

    status = create_endpoint(
        args.model,
        name=args.name,
        namespace=args.namespace,
        vendor=args.vendor,
        region=args.region,
        accelerator=args.accelerator,
        instance_type=args.instance_type,
        instance_size=args.instance_size,
        min_replica=args.min_replica,
        max_replica=args.max_replica,
        scale_to_zero_timeout=args.scale_to_zero_timeout,
        max_batch_tokens=args.max_batch_tokens,
        max_concurrent_requests=args.max_concurrent_requests,
        max_client_batch_size=args.max_client_batch_size,
        max_batch_requests=args.max_batch_requests,
        auto_truncate=args.auto_truncate,
        revision=args.revision,
        endpoint_type=args.type,
        image=args.image,
        env=_env_pairs(args.env),
        tei_version=args.tei_version,
        token=args.token,
        wait=not args.no_wait,
        timeout=args.timeout,
        poll_every=args.poll_every,
    )
    _print_rows(_status_rows(status), args.json)
    if not args.json:
        namespace = f", namespace={status.namespace!r}" if status.namespace else ""
        print(f"\nuse it: Embedder(endpoint_name={status.name!r}{namespace})", file=sys.stderr)
    return 0


def _endpoint_status(args: argparse.Namespace) -> int:
    from hfe_core.deploy import endpoint_status

    _print_rows(
        _status_rows(endpoint_status(args.name, namespace=args.namespace, token=args.token)), args.json
    )
    return 0


def _endpoint_pause(args: argparse.Namespace) -> int:
    from hfe_core.deploy import pause_endpoint

    _print_rows(
        _status_rows(pause_endpoint(args.name, namespace=args.namespace, token=args.token)), args.json
    )
    return 0


def _endpoint_resume(args: argparse.Namespace) -> int:
    from hfe_core.deploy import resume_endpoint

    status = resume_endpoint(
        args.name,
        namespace=args.namespace,
        token=args.token,
        wait=not args.no_wait,
        timeout=args.timeout,
        poll_every=args.poll_every,
    )
    _print_rows(_status_rows(status), args.json)
    return 0


def _endpoint_scale_to_zero(args: argparse.Namespace) -> int:
    from hfe_core.deploy import scale_endpoint_to_zero

    status = scale_endpoint_to_zero(args.name, namespace=args.namespace, token=args.token)
    _print_rows(_status_rows(status), args.json)
    return 0


def _endpoint_delete(args: argparse.Namespace) -> int:
    from hfe_core.deploy import delete_endpoint

    where = f"{args.namespace}/{args.name}" if args.namespace else args.name
    if not args.yes:
        again = f"hfe endpoint delete {args.name}" + (
            f" --namespace {args.namespace}" if args.namespace else ""
        )
        print(
            f"hfe: deleting the Inference Endpoint {where} cannot be undone; add --yes to delete it "
            f"({again} --yes). To stop paying for it and keep it, use `hfe endpoint pause` instead.",
            file=sys.stderr,
        )
        return 1
    delete_endpoint(args.name, namespace=args.namespace, token=args.token)
    if args.json:
        print(json.dumps({"name": args.name, "namespace": args.namespace, "deleted": True}, indent=2))
    else:
        print(f"deleted {where}")
    return 0


def _endpoint_list_hardware(args: argparse.Namespace) -> int:
    from hfe_core.deploy import list_hardware

    options = list_hardware(
        namespace=args.namespace,
        token=args.token,
        vendor=args.vendor,
        region=args.region,
        accelerator=args.accelerator,
        available_only=args.available,
    )
    if args.json:
        print(json.dumps([option.as_dict() for option in options], indent=2))
        return 0
    header = (
        "vendor",
        "region",
        "accelerator",
        "instance type",
        "size",
        "architecture",
        "$/h",
        "status",
        "TEI image",
    )
    rows = [
        (
            o.vendor,
            o.region,
            o.accelerator,
            o.instance_type,
            o.instance_size,
            o.architecture,
            f"{o.price_per_hour:g}",
            o.status,
            (o.tei_image or "-").rsplit("/", 1)[-1],
        )
        for o in options
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_CREDENTIAL_HELP = (
    "a Hugging Face token (default: HF_TOKEN, the other token variables, then the login stored by "
    "`hf auth login`); prefer the environment, command lines are visible to other users"
)


def _add_endpoint_options(parser: argparse.ArgumentParser, *, json_help: str = "print JSON") -> None:
    parser.add_argument(
        "--namespace", default=None, help="the user or organization (default: the token's user)"
    )
    parser.add_argument("--token", default=None, help=_CREDENTIAL_HELP)
    parser.add_argument("--json", action="store_true", help=json_help)


def _add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--no-wait", action="store_true", help=f"return at once after {what}, without waiting until it runs"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait until it runs (default: 900)"
    )
    parser.add_argument(
        "--poll-every", type=float, default=5.0, help="seconds between two status reads (default: 5)"
    )


def _add_deploy_parser(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="deploy a model on a Hugging Face Inference Endpoint running TEI",
        description="Create a Hugging Face Inference Endpoint running Text Embeddings Inference (TEI) for "
        "MODEL, wait until it runs, and print its name, status and URL. The defaults make a small CPU "
        "endpoint (aws us-east-1, intel-spr x2) that scales to zero after 15 idle minutes.",
    )
    deploy.add_argument("model", help="the model repository, e.g. BAAI/bge-small-en-v1.5")
    deploy.add_argument(
        "--name", default=None, help="the endpoint name (default: derived from MODEL, e.g. bge-small-en-v1-5)"
    )
    deploy.add_argument("--vendor", default="aws", help="the cloud: aws (default), gcp, azure")
    deploy.add_argument("--region", default="us-east-1", help="the region (default: us-east-1)")
    deploy.add_argument("--accelerator", default="cpu", help="cpu (default) or gpu")
    deploy.add_argument(
        "--instance-type",
        default="intel-spr",
        help="the instance type (default: intel-spr); e.g. nvidia-t4, nvidia-l4, nvidia-a10g, nvidia-a100 "
        "(see `hfe endpoint list-hardware`)",
    )
    deploy.add_argument("--instance-size", default="x2", help="x1, x2 (default), x4, x8")
    deploy.add_argument(
        "--min-replica",
        type=int,
        default=0,
        help="replicas always up (default: 0, the endpoint scales to zero)",
    )
    deploy.add_argument("--max-replica", type=int, default=1, help="the autoscaling ceiling (default: 1)")
    deploy.add_argument(
        "--scale-to-zero-timeout",
        type=int,
        default=15,
        help="idle minutes before scaling to zero, with --min-replica 0 (default: 15)",
    )
    deploy.add_argument(
        "--max-batch-tokens", type=int, default=16384, help="TEI's MAX_BATCH_TOKENS (default: 16384)"
    )
    deploy.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=512,
        help="TEI's MAX_CONCURRENT_REQUESTS (default: 512)",
    )
    deploy.add_argument(
        "--max-client-batch-size",
        type=int,
        default=None,
        help="TEI's MAX_CLIENT_BATCH_SIZE, inputs per request (default: TEI's 32)",
    )
    deploy.add_argument(
        "--max-batch-requests",
        type=int,
        default=None,
        help="TEI's MAX_BATCH_REQUESTS, requests per server batch (default: no limit)",
    )
    deploy.add_argument(
        "--auto-truncate",
        type=_bool,
        default=None,
        metavar="{true,false}",
        help="TEI's AUTO_TRUNCATE (default: TEI's, true from 1.9)",
    )
    deploy.add_argument(
        "--tei-version",
        default="1.9",
        help="the TEI release of the image chosen for the hardware (default: 1.9)",
    )
    deploy.add_argument(
        "--image",
        default=None,
        help="a TEI container image to run instead of the one chosen for the hardware, "
        "e.g. ghcr.io/huggingface/text-embeddings-inference:cpu-1.9.3",
    )
    deploy.add_argument(
        "--type",
        default="authenticated",
        choices=("authenticated", "public", "private"),
        help="who may call it: authenticated (default: any Hugging Face token of the namespace), public, "
        "private",
    )
    deploy.add_argument("--revision", default=None, help="the model revision (default: the main branch)")
    deploy.add_argument(
        "--env",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="a TEI environment variable (repeatable), e.g. --env DEFAULT_PROMPT_NAME=query",
    )
    _add_wait_options(deploy, "creating it")
    _add_endpoint_options(deploy)
    deploy.set_defaults(run=_deploy)


_ENDPOINT_EPILOG = """\
options of the actions:
  NAME                   the endpoint name (every action but list-hardware)
  --namespace NAMESPACE  the user or organization (default: the token's user)
  --token TOKEN          a Hugging Face token (default: HF_TOKEN, the other token variables, then the
                         login stored by `hf auth login`)
  --json                 print JSON
  resume:        --no-wait (do not wait until it runs), --timeout SECONDS (default: 900),
                 --poll-every SECONDS (default: 5)
  delete:        --yes (required: deleting cannot be undone)
  list-hardware: --vendor VENDOR, --region REGION, --accelerator {cpu,gpu} (filters),
                 --available (only hardware available now)

`hfe endpoint ACTION --help` describes one action.
"""


def _add_endpoint_parser(commands: Any) -> None:
    endpoint = commands.add_parser(
        "endpoint",
        help="manage a Hugging Face Inference Endpoint",
        description="Manage Hugging Face Inference Endpoints: status, pause, resume, scale-to-zero, delete, "
        "list-hardware.",
        epilog=_ENDPOINT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = endpoint.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, run, text in (
        ("status", _endpoint_status, "print an endpoint's state, URL and settings"),
        ("pause", _endpoint_pause, "pause an endpoint (no cost; no request wakes it until resumed)"),
        ("resume", _endpoint_resume, "resume a paused endpoint and wait until it runs"),
        (
            "scale-to-zero",
            _endpoint_scale_to_zero,
            "scale an endpoint to zero now (its next request wakes it)",
        ),
        ("delete", _endpoint_delete, "delete an endpoint (cannot be undone; needs --yes)"),
    ):
        parser = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("name", help="the endpoint name")
        if action == "resume":
            _add_wait_options(parser, "resuming it")
        if action == "delete":
            parser.add_argument("--yes", action="store_true", help="confirm the deletion (required)")
        _add_endpoint_options(parser)
        parser.set_defaults(run=run)
    hardware = actions.add_parser(
        "list-hardware",
        help="list the hardware endpoints can run on, with the TEI image for each",
        description="List the hardware Inference Endpoints offers, with the TEI image hfe deploys on each.",
    )
    hardware.add_argument("--vendor", default=None, help="only this cloud, e.g. aws")
    hardware.add_argument("--region", default=None, help="only this region, e.g. us-east-1")
    hardware.add_argument("--accelerator", default=None, help="only cpu or gpu")
    hardware.add_argument("--available", action="store_true", help="only hardware available now")
    _add_endpoint_options(hardware)
    hardware.set_defaults(run=_endpoint_list_hardware)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfe", description="Hugging Face embeddings: hfe's command line.")
    parser.add_argument("--version", action="version", version=f"hfe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="describe a Text Embeddings Inference server")
    info.add_argument("url", help="the server's root URL, e.g. http://localhost:8080")
    info.add_argument("--api-key", default=None, help="the server's --api-key (default: $TEI_API_KEY)")
    info.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=_info)
    add_embed_parser(commands)
    _add_deploy_parser(commands)
    _add_endpoint_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hfe`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on an hfe error.
    """
    args = _build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except HfeError as exc:
        print(f"hfe: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
