"""What the batch job's modules share: the bad-row policy, output formats, the layout version, limits."""

from __future__ import annotations

import logging
from typing import Literal

logger = logging.getLogger("hfe")

OnBadRow = Literal["error", "skip"]
OutputFormat = Literal["parquet", "npy"]

#: Version of the work folder's layout; a folder of another version is not resumed.
_LAYOUT = 1
#: Bad records named in an error message or a printed summary.
_NAMED = 10
#: Keys looked up in one query of the seen-texts index.
_LOOKUP = 256
#: Earlier chunks kept memory-mapped to copy duplicate texts' vectors from.
_OPEN_CHUNKS = 8
