"""Integrations of hfe into third-party libraries, each imported on demand.

- :mod:`hfe_core.integrations.mem0`: ``enable()`` makes mem0's own ``huggingface`` embedder
  provider run on hfe.

Importing this package imports no third-party library.
"""
