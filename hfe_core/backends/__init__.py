"""Mode backends, one module per mode, behind :class:`~hfe_core.backends.base.Backend`."""

from __future__ import annotations

from hfe_core.backends.base import Backend
from hfe_core.config import EmbedderSettings
from hfe_core.errors import ModeNotAvailableError

__all__ = ["Backend", "create_backend"]

_NOT_YET = {
    "endpoint": "Hugging Face Inference Endpoints and the serverless Inference API",
}


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
    raise ModeNotAvailableError(
        f"mode={settings.mode!r} ({_NOT_YET.get(str(settings.mode), 'unknown')}) is not available yet "
        "in this release of hfe; settings for it are accepted so configurations stay valid. "
        "Use mode='local' (sentence-transformers in process) for now."
    )
