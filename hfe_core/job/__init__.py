"""Batch jobs over large corpora: :func:`embed_file` (``hfe embed``) and :func:`embed_stream`.

:func:`embed_file` embeds every record of a JSONL, CSV/TSV, Parquet or text file into a
Parquet or ``.npy`` file, and never loses work:

* The input is read in chunks of ``chunk_size`` records (streamed, never loaded whole).
  Each chunk's vectors and ids are written to a work folder next to the output
  (``OUTPUT.hfe-job/``) and fsynced, then one line is appended to its manifest
  (``chunks.jsonl``: the chunk's input digest, its files' SHA-256, its counters and the
  records it skipped). That line is the commit point.
* Run again after a crash, Ctrl-C, a killed process or a server that stayed down, the
  same call resumes: a chunk whose manifest line, input digest and file hashes all check
  out is kept; a missing, truncated or corrupt chunk, or one whose input records changed,
  is embedded again. The output is assembled from the chunks in input order only when
  all are done, so it is the same as an uninterrupted run's: same rows, same order, no
  duplicates.
* Texts seen before in the job are embedded once (``dedup=True``) and their vector is
  copied; the index of seen texts lives in SQLite on disk, so memory stays bounded by
  the chunk size, the batch size and the concurrency, not by the corpus.

Example:
    >>> from hfe_core import embed_file
    >>> summary = embed_file(  # doctest: +SKIP
    ...     "corpus.jsonl", "vectors.parquet", text_field="body", id_field="doc_id"
    ... )
    >>> print(summary.format())  # doctest: +SKIP
"""

from __future__ import annotations

from hfe_core.errors import OutputWriteError
from hfe_core.job.common import OnBadRow
from hfe_core.job.run import embed_file
from hfe_core.job.stream import embed_stream
from hfe_core.job.summary import JobInterrupted, JobSummary
from hfe_core.job.workdir import ids_path_for, work_dir_for

__all__ = [
    "JobInterrupted",
    "JobSummary",
    "OnBadRow",
    "OutputWriteError",
    "embed_file",
    "embed_stream",
    "ids_path_for",
    "work_dir_for",
]
