"""Tables for the clienteling side (registered on the shared metadata by ``server.db.models``)."""

from __future__ import annotations
