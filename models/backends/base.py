"""What every backend config is: strict, immutable, keyed by ``type``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["BackendConfig"]


class BackendConfig(BaseModel):
    """Base of every backend config: strict (unknown options are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
