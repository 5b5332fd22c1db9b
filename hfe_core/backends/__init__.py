"""Mode backends, one module per mode, behind :class:`~hfe_core.backends.base.Backend`."""

from __future__ import annotations

from hfe_core.backends.base import Backend
from hfe_core.config import EmbedderSettings
from hfe_core.errors import ModeNotAvailableError

__all__ = ["Backend", "create_backend"]


def create_backend(settings: EmbedderSettings) -> Backend:
    """Create the backend for ``settings.mode`` (nothing is loaded or connected yet).

    Raises:
        ModeNotAvailableError: the mode is not shipped in this release.
    """
    if settings.mode == "local":
        from hfe_core.backends.local import LocalBackend

        return LocalBackend(settings)
    if settings.mode == "tei":
        from hfe_core.backends.tei import TEIBackend

        return TEIBackend(settings)
    if settings.mode == "endpoint":
        from hfe_core.backends.endpoint import create_endpoint_backend

        return create_endpoint_backend(settings)
    raise ModeNotAvailableError(f"mode={settings.mode!r} is unknown; use 'local', 'tei' or 'endpoint'.")
