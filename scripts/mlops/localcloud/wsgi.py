"""WSGI middleware around moto's dispatcher: a health check and fail-fast errors.

moto answers an operation it does not implement by raising NotImplementedError, which
reaches the client as HTTP 500. Every AWS SDK treats 500 as transient and retries it, and
the Terraform AWS provider keeps retrying for many minutes. Real AWS reports unsupported
functionality with the error code `NotImplemented` and HTTP status 501 (S3 API reference,
"List of error codes": "NotImplemented | A header you provided implies functionality that
is not implemented. | 501 Not Implemented"). We answer the same way, HTTP 501
`NotImplemented`, in the wire format of the caller's protocol, naming the service and
operation.

501 is not retried, so failing fast is kept:
- botocore 1.44 (the version pinned here), `botocore/retries/standard.py`,
  `TransientRetryableChecker._TRANSIENT_STATUS_CODES = [500, 502, 503, 504]` (standard and
  adaptive modes); legacy mode, `botocore/data/_retry.json`, retries only the
  `http_status_code` 500, 502, 503 and 504 (`general_server_error`, `bad_gateway`,
  `service_unavailable`, `gateway_timeout`) and the throttling codes;
- aws-sdk-go-v2 (the Terraform AWS provider), `aws/retry`: `DefaultRetryableHTTPStatusCodes`
  is 500, 502, 503, 504.
`tests/localcloud/test_failfast.py` checks botocore sends exactly one request in every
retry mode.

A crash inside moto (any other exception) is ours to report, not AWS's: it is answered
with HTTP 400 and the code `MlopsLocalcloudError`, which no SDK has in a retry list.
(AWS's own `InternalFailure` is a 500, which every SDK would retry for minutes.)
"""

from __future__ import annotations

import json
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

HEALTH_PATH = "/_mlops/health"  # S3 bucket names cannot start with "_": no clash
HOLD_PATH = "/_mlops/sagemaker/hold"
NOT_IMPLEMENTED = "NotImplemented"
INTERNAL = "MlopsLocalcloudError"  # ours, so no SDK has it in a retry list
REST_XML_SERVICES = frozenset({"s3", "s3control", "route53", "cloudfront"})
# HTTP status per error code; anything else is a client error (400).
STATUS = {NOT_IMPLEMENTED: "501 Not Implemented"}
_MOTO_MESSAGE = re.compile(r"The (\w+) action has not been implemented")


@dataclass(frozen=True)
class AwsError:
    service: str
    operation: str
    code: str
    message: str


class Health:
    """Answers GET /_mlops/health with our pid, so `mlops cloud status` can tell our
    server from anything else listening on the port."""

    def __init__(self, app: WSGIApp, pid: int) -> None:
        self.app = app
        self.body = json.dumps({"service": "mlops-localcloud", "pid": pid}).encode()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(self.body)))])
        return [self.body]


class Knobs:
    """Test knobs of the embedded AWS, never AWS behaviour (docs/localcloud.md):

    POST /_mlops/sagemaker/hold  {"endpoint": NAME, "seconds": S}
        none of the endpoint's transitions (Creating, Updating) finishes for S seconds from
        now; S = 0 lifts the hold. Lets a test see an update stay `Updating`.
    """

    def __init__(self, app: WSGIApp, hold: Callable[[str, float], None]) -> None:
        self.app = app
        self.hold = hold

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HOLD_PATH:
            return self.app(environ, start_response)
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise ValueError("use POST")
            size = int(environ.get("CONTENT_LENGTH") or 0)
            data = json.loads(environ["wsgi.input"].read(size) or b"{}")
            name, seconds = str(data["endpoint"]), float(data["seconds"])
            if not name or seconds < 0:
                raise ValueError("endpoint must be a name and seconds >= 0")
            self.hold(name, seconds)
            status, body = "200 OK", {"endpoint": name, "seconds": seconds}
        except (ValueError, KeyError, TypeError) as err:
            status, body = "400 Bad Request", {"error": f"{HOLD_PATH}: {err}"}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]


class FailFast:
    """Wraps moto's DomainDispatcherApplication: an unimplemented operation becomes 501
    `NotImplemented`, any other crash 400 `MlopsLocalcloudError`."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        service = signing_service(environ)
        try:
            app = self.dispatcher.get_application(environ)
        except Exception:  # moto has no backend at all for this service
            app = None
        if app is None:
            error = not_implemented(service, operation_name(environ, ""))
            return self._reply(error, environ, start_response)
        service = str(getattr(app, "service", None) or service)
        try:
            result: Iterable[bytes] = app(environ, start_response)
            return result
        except NotImplementedError as err:
            error = not_implemented(service, operation_name(environ, str(err)))
            print(f"mlops localcloud: 501 {error.message}", file=sys.stderr, flush=True)
        except Exception as err:
            operation = operation_name(environ, "")
            error = AwsError(service, operation, INTERNAL,
                             f"mlops localcloud: {service}.{operation} failed inside the "
                             f"embedded AWS ({type(err).__name__}: {err}); see its log")
            traceback.print_exc(file=sys.stderr)
        return self._reply(error, environ, start_response)

    @staticmethod
    def _reply(error: AwsError, environ: Environ,
               start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = render_error(error, protocol(error.service, environ))
        start_response(status, headers)
        return [body]


def signing_service(environ: Environ) -> str:
    """The service named in the SigV4 credential scope: Credential=key/date/region/service/..."""
    auth = str(environ.get("HTTP_AUTHORIZATION") or "")
    match = re.search(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/", auth)
    return match.group(1) if match else "unknown"


def not_implemented(service: str, operation: str) -> AwsError:
    return AwsError(service, operation, NOT_IMPLEMENTED,
                    f"mlops localcloud: {service}.{operation} is not implemented by the "
                    "embedded AWS")


def operation_name(environ: Environ, moto_message: str) -> str:
    """The AWS operation name, from the request or from moto's error message."""
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(str(environ.get("QUERY_STRING") or "")).get("Action")
    if action:
        return action[0]
    found = _MOTO_MESSAGE.search(moto_message)
    if found:
        return "".join(part.capitalize() for part in found.group(1).split("_"))
    return f"{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '/')}"


def protocol(service: str, environ: Environ) -> str:
    """The AWS wire protocol of the request: json, query, ec2, rest-xml or rest-json."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if str(environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return "ec2" if service == "ec2" else "query"
    return "rest-xml" if service in REST_XML_SERVICES else "rest-json"


def render_error(error: AwsError, proto: str) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    code, message = escape(error.code), escape(error.message)
    content_type = "text/xml"
    if proto in ("json", "rest-json"):
        content_type = "application/x-amz-json-1.1" if proto == "json" else "application/json"
        text = json.dumps({"__type": error.code, "message": error.message})
    elif proto == "ec2":
        text = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
    elif proto == "rest-xml" and error.service == "s3":
        text = (f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>")
    else:
        text = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
    body = text.encode()
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
               ("x-amzn-ErrorType", error.code), ("x-amzn-RequestId", request_id),
               ("x-amz-request-id", request_id)]
    return STATUS.get(error.code, "400 Bad Request"), headers, body
