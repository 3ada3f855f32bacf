"""What every protocol router shares: bounded body reading and JSON error answers."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from model_server.predictor import MAX_BODY_BYTES, RequestError


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing to buffer more than `limit` bytes (413)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    request.state.request_bytes = size
    return b"".join(chunks)


def error(request: Request, status: int, message: str) -> JSONResponse:
    """`{"error": message}` with `status`; the message also goes to the request log."""
    request.state.error = message
    return JSONResponse({"error": message}, status_code=status)
