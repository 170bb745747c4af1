"""``RequestMetrics``: the gateway's outermost middleware; counts every HTTP answer in
``requests_total{route, status}`` and every 4xx in ``refused_total{reason}``.

Whoever refuses a request names why with :func:`note_refusal` (the API key check, the
body limit, the strict-JSON check, the request validation, the input rules, the use-case
lookup); a 4xx nobody named (an unknown path, a wrong method) counts as ``http_<status>``.
So every refused request is counted exactly once, whichever layer answered it. Routes are
counted by template (``/v1/{usecase}/predict``), never by the raw path, so a client cannot
create series.
"""

from __future__ import annotations

from mlstack.gateway.api.asgi import ASGIApp, Receive, Scope, Send, noting_status

REFUSAL = "mlstack.refusal"  # the scope key a refuser writes its reason to
OPEN_ROUTES = frozenset({"/health", "/metrics", "/docs", "/redoc", "/openapi.json"})


def note_refusal(scope: Scope, reason: str) -> None:
    """Say why this request is refused (counted when its answer is sent)."""
    scope[REFUSAL] = reason


def route_of(path: str) -> str:
    """The route template of ``path`` (``other`` for anything the gateway does not serve)."""
    if path in OPEN_ROUTES:
        return path
    parts = path.rstrip("/").split("/")  # "", "v1", usecase, action
    if len(parts) < 2 or parts[1] != "v1" or len(parts) > 4:
        return "other"
    if len(parts) == 2:
        return "/v1"
    if len(parts) == 3:
        return "/v1/{usecase}"
    return f"/v1/{{usecase}}/{parts[3]}" if parts[3] in ("predict", "feedback") else "other"


class RequestMetrics:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send_noting_status, seen = noting_status(send)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            status = seen[0]
            service = getattr(scope["app"].state, "service", None)
            if service is not None and status:
                metrics = service.metrics
                metrics.count_request(route_of(scope["path"]), status)
                if 400 <= status < 500:
                    metrics.count_refusal(scope.get(REFUSAL) or f"http_{status}")
