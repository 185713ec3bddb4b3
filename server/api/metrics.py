"""``GET /metrics``: the process's Prometheus metrics (``server/metrics.py``). Open by default
(bind the server to a private network); with ``VERTROUWD_METRICS_TOKEN`` set, only a request
with ``Authorization: Bearer <token>`` gets them."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.api.schemas import file_answer
from server.deps import RuntimeDep
from server.metrics import ServerMetrics
from server.services.errors import Unauthorized

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses=file_answer("Prometheus text exposition", "text/plain"),
)
def metrics(request: Request, rt: RuntimeDep) -> Response:
    token = rt.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("metrics need the bearer token (VERTROUWD_METRICS_TOKEN)")
    registry: ServerMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
