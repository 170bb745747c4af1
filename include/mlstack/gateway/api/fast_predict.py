"""The hot path: ``POST /v1/{usecase}/predict`` answered without FastAPI's machinery.

Through FastAPI a one-record prediction spends most of its CPU outside the prediction:
routing, dependency resolution (sync dependencies hop to a thread pool), JSON decoding
with ``json`` then validation with pydantic, a response model, ``json`` again. This ASGI
middleware answers the ordinary case itself: it decodes the body with msgspec into the same
shape :class:`~mlstack.gateway.schemas.PredictRequest` accepts, calls the same
:meth:`PredictionService.predict` (variant assignment, signature check, scoring, logging,
metrics) and encodes the same response body with msgspec.

Anything else goes to the FastAPI app unchanged, with the body it already read: other
routes, another content type, a body msgspec refuses (malformed JSON, invalid UTF-8, an
empty batch) or that is not exactly one of ``record``/``records``/``dataframe_records``, an
unknown use case, a record that breaks the input rules, no champion yet. Those answers
(400 naming the field, 404, 503) therefore stay FastAPI's own, byte for byte; a rejected
record is checked again there, nothing was scored or logged for it here. The one answer
given here besides 200 is the 503 when the journal refuses the rows (scored, not
answered: handing over would score and journal them a second time). The FastAPI route
stays registered, so OpenAPI documents it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from mlstack.exceptions import NoModelServed
from mlstack.gateway.api.asgi import ASGIApp, Message, Receive, Scope, Send
from mlstack.gateway.api.request_metrics import note_refusal
from mlstack.gateway.journal import LogUnavailable
from mlstack.gateway.model_cache import RecordError
from mlstack.gateway.service import PredictionService

MAX_RECORDS = 10_000  # PredictRequest's max_length
Records = Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=MAX_RECORDS)]


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    """PredictRequest's shape (``extra="forbid"``); "exactly one form" is checked after."""

    record: dict[str, Any] | None = None
    records: Records | None = None
    dataframe_records: Records | None = None


_decode = msgspec.json.Decoder(_Body).decode
_encode = msgspec.json.Encoder().encode
_HEADERS = [(b"content-type", b"application/json")]


def _rows(body: _Body) -> list[dict[str, Any]] | None:
    """The records if exactly one form was sent, else None (FastAPI answers the 422)."""
    forms = (body.record is not None) + (body.records is not None)
    forms += body.dataframe_records is not None
    if forms != 1:
        return None
    if body.record is not None:
        return [body.record]
    return body.records if body.records is not None else body.dataframe_records


def _json_content(scope: Scope) -> bool:
    """True when FastAPI would read the body as JSON and we can too (no type, or JSON)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            v = value.lower()
            return v.startswith(b"application/json") and v[16:17] in (b"", b";", b" ")
    return True


class PredictHotPath:
    """ASGI middleware in front of the gateway's routes; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        parts = scope["path"].split("/")  # "", "v1", usecase, "predict"
        if len(parts) != 4 or parts[1] != "v1" or parts[3] != "predict" or scope.get("root_path"):
            return await self.app(scope, receive, send)
        service: PredictionService | None = getattr(scope["app"].state, "service", None)
        usecase = parts[2]
        if service is None or usecase not in service.cache.specs or not _json_content(scope):
            return await self.app(scope, receive, send)

        body, message = await _read_body(receive)
        if message is not None:  # the client went away before its body arrived
            return
        answers = None
        try:
            records = _rows(_decode(body))
        except (msgspec.DecodeError, ValueError, RecursionError):  # malformed, shape, sizes
            if (refusal := not_strict_json(body)) is not None:
                note_refusal(scope, "invalid_json")
                return await send_json(send, 400, refusal)
            records = None  # valid JSON of the wrong shape: FastAPI's route names the field
        if records is not None:
            try:
                answers = await service.predict(usecase, records)
            except (RecordError, NoModelServed):
                answers = None  # FastAPI's route gives the 400 / 503
            except LogUnavailable as exc:
                detail = f"not answered: cannot log it durably ({exc})"
                return await send_json(send, 503, {"detail": detail})
        if answers is None:
            return await self.app(scope, replay_body(body, receive), send)
        await send_json(send, 200, {"predictions": answers})


_strict = msgspec.json.Decoder().decode


def not_strict_json(body: bytes) -> dict[str, Any] | None:
    """The 400 body for a body that is not strict JSON (RFC 8259: no NaN/Infinity, numbers
    within double range, valid UTF-8, no lone surrogates), or None when it is."""
    try:
        _strict(body)
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # RecursionError: nesting
        msg = f"the body is not valid JSON (RFC 8259; send null for a missing value): {exc}"
        return {"detail": [{"loc": ["body"], "msg": msg[:300], "type": "json_invalid"}]}
    return None


async def send_json(
    send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send ``obj`` as a whole JSON response (with extra ``headers``)."""
    payload = _encode(obj)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_HEADERS,
                (b"content-length", str(len(payload)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body; or the disconnect message if the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks), None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the already-read body once, then the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
