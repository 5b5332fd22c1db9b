"""Copy a few entries out of a huggingface.js ``tapes.json`` into a small JSON file.

The huggingface.js tape files (``packages/inference/test/tapes.json``, about 3.8 MB each) are too big to
commit whole. This script copies the requested entries **verbatim**: the same keys, the same values (the
response body is the recorded text, untouched). Only the JSON whitespace is re-serialized (``json.dumps``
with ``indent=2`` and ``ensure_ascii=False``; the source is indented with two spaces at e26e61887b and with
tabs at 457119ebd1); no value is changed, added or dropped. Entries keep their order in the source file.

A ``_source`` entry records the repository, commit, original path and the sha256 of the source file.

Each key of a tape is ``sha256(JSON.stringify({url, method, body}))`` (huggingface.js ``test/vcr.ts``); the
script recomputes it for every entry it copies and prints the result: a match shows the entry was recorded
at that URL with that body and not renamed afterwards.

Usage (run by hand from the repository root; tests never run it)::

    python tests/cassettes/hf_serverless/huggingface.js/extract.py \\
        ../shared/recordings/huggingface.js/457119ebd1/tapes.json \\
        --commit 457119ebd1d68f76dc2f9d0f218ffbadb62e7325 \\
        --out tests/cassettes/hf_serverless/huggingface.js/457119ebd1/tapes.feature-extraction.json \\
        0f1f12180136 13686aae020c cfcdec98f6f8

Keys may be given as unique prefixes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

REPOSITORY = "huggingface/huggingface.js"
ORIGINAL_PATH = "packages/inference/test/tapes.json"


def tape_key(entry: dict[str, Any]) -> str:
    """``sha256(JSON.stringify({url, method, body}))``; like JavaScript, an absent field is left out."""
    init = entry.get("init", {})
    obj = {"url": entry["url"], **{name: init[name] for name in ("method", "body") if name in init}}
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Write the extract; return 1 when a recomputed key does not match."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tapes", type=Path, help="path of a huggingface.js tapes.json")
    parser.add_argument("keys", nargs="+", help="keys (or unique key prefixes) to copy")
    parser.add_argument("--commit", required=True, help="full commit of the source file")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = parser.parse_args(argv)

    raw = args.tapes.read_bytes()
    tapes: dict[str, Any] = json.loads(raw)
    wanted: set[str] = set()
    for prefix in args.keys:
        found = [key for key in tapes if key.startswith(prefix)]
        if len(found) != 1:
            parser.error(f"key prefix {prefix!r} matches {len(found)} entries")
        wanted.add(found[0])

    out: dict[str, Any] = {
        "_source": {
            "repository": REPOSITORY,
            "commit": args.commit,
            "path": ORIGINAL_PATH,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "note": "entries copied verbatim by extract.py (same keys and values; whitespace re-serialized)",
        }
    }
    ok = True
    for key, entry in tapes.items():  # source order
        if key in wanted:
            matches = tape_key(entry) == key
            ok = ok and matches
            status = entry["response"]["status"]
            print(f"{key[:12]} {status} {entry['url']}: key {'matches' if matches else 'DOES NOT match'}")
            out[key] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
