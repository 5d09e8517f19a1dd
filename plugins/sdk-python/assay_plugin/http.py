"""An HTTP client for the vendor's API over ``wasi:http/outgoing-handler``.

::

    api = http.Client(settings.require("base_url")).bearer(settings.require("api_token"))
    check = api.get(f"/v1/checks/{http.encode_component(id)}").send().error_for_status().json()

Calls block until the whole answer is read (a plugin call is one short request/response
exchange, so there is no event loop to feed). Only transport failures raise from
:meth:`Request.send`; any HTTP status is a :class:`Response`, and
:meth:`Response.error_for_status` raises the plugin error the status means
(:func:`status_error`). The host filters every request by the product's ``allowed_hosts``.

What a vendor's answer means (:func:`status_error`, :meth:`Response.json`) is the same, to the
byte, in the Rust and TypeScript SDKs: every SDK's tests check it against one table,
``plugins/sdk-conformance/http-status.json``.

componentize-py ships an asyncio ``poll_loop`` module with ``wasi:http`` helpers; it is not
used because it imports the HTTP types as ``wit_world.imports.types``, a name this world
gives to ``assay:plugin/types`` (the HTTP types are ``wasi_http_types`` here), and a plugin
call has nothing to run concurrently.
"""

import json as _json
import re
from itertools import accumulate
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as w

from . import errors

#: How much of the vendor's words an error message quotes: bytes of UTF-8, cut back to a
#: character boundary, as in the Rust and TypeScript SDKs.
QUOTED_BODY_BYTES = 300
#: The deepest nesting of arrays and objects ``serde_json`` (so the Rust SDK) reads.
_MAX_JSON_DEPTH = 127
#: Unicode ``White_Space``, what Rust's ``str::trim`` removes around the quote. Python's own
#: ``strip()`` differs: it also removes U+001C..U+001F.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: A JSON string (its brackets are no nesting), and what is not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
#: An escape that may be half of a surrogate pair, the only way JSON text can hold a surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The most bytes ``blocking-write-and-flush`` accepts at once.
_WRITE_CHUNK = 4096
#: The largest chunk asked for when reading a body.
_READ_CHUNK = 64 * 1024

_METHODS = {
    "GET": w.Method_Get,
    "HEAD": w.Method_Head,
    "POST": w.Method_Post,
    "PUT": w.Method_Put,
    "DELETE": w.Method_Delete,
    "PATCH": w.Method_Patch,
    "OPTIONS": w.Method_Options,
}


def encode_component(text: str) -> str:
    """Percent-encodes ``text`` for a path segment or a query parameter: everything but
    ``A-Z a-z 0-9 - . _ ~`` becomes ``%XX`` of its UTF-8 bytes."""
    safe = b"-._~"
    return "".join(
        chr(b) if (chr(b).isascii() and chr(b).isalnum()) or b in safe else f"%{b:02X}"
        for b in text.encode()
    )


def join(base: str, path: str) -> str:
    """``base`` and ``path`` joined with exactly one ``/`` between them."""
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


def split_url(url: str) -> Tuple[str, str, str]:
    """``(scheme, authority, path_with_query)`` of an absolute http(s) URL. Anything else
    raises ``permanent``: it comes from the code or the settings, retrying cannot fix it."""
    bad = errors.permanent(f"not an absolute http(s) URL: {url}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise bad
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=-1)
    if cut < 0:
        authority, path = rest, "/"
    elif rest[cut] != "/":
        raise bad
    else:
        authority, path = rest[:cut], rest[cut:]
    if not authority or "@" in authority:
        raise bad
    return scheme.lower(), authority, path.split("#", 1)[0]


class Response:
    """A received response, body read in full."""

    def __init__(self, status: int, headers: List[Tuple[str, bytes]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), if present and UTF-8."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                try:
                    return bytes(v).decode()
                except UnicodeDecodeError:
                    return None
        return None

    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced by U+FFFD)."""
        return bytes(self.body).decode(errors="replace")

    def json(self) -> Any:
        """The body as JSON (as :func:`parse_json` reads it), whatever the status. An answer
        that is not JSON raises ``permanent``: the vendor's API changed or the URL points
        elsewhere (a web page at a 2xx is the site, not the API), and the same request gets the
        same answer. A gateway's passing trouble comes with a 5xx, which
        :meth:`error_for_status` makes retryable first."""
        try:
            return parse_json(self.body)
        except ValueError as e:
            raise errors.permanent(
                f"the vendor's answer (HTTP {self.status}) is not the expected JSON: {e}"
            ) from None

    def error_for_status(self) -> "Response":
        """``self`` for a 2xx status; otherwise raises the error the status means."""
        error = status_error(self.status, self.header("retry-after"), self.body)
        if error is not None:
            raise error
        return self


def status_error(status: int, retry_after: Optional[str], body: bytes) -> Optional[Err]:
    """The plugin error an HTTP status from the vendor's API means, ``None`` for 2xx.

    401, 403: ``unauthorized``; 404, 410: ``not_found``; 408, 425, 429, 5xx: ``retryable``
    with ``Retry-After`` seconds; 422: ``permanent`` (the vendor understood and refuses);
    other 4xx: ``invalid_input``; 1xx, 3xx and anything outside 100..599: ``permanent`` (the
    base URL is probably wrong).

    ``Retry-After`` counts only as delay-seconds: ASCII digits with spaces or tabs around them.
    An HTTP date is ignored (the host's own backoff applies); a count beyond a ``u64`` of
    milliseconds saturates at its maximum.

    The message is ``the vendor answered HTTP <status>: <quote>``, without ``: `` when there is
    nothing to quote. The quote is the first string among ``error_description``, ``message``,
    ``detail``, ``error`` and ``error.message`` of a JSON object, else the body itself (invalid
    UTF-8 replaced); trimmed of Unicode ``White_Space``, then cut to :data:`QUOTED_BODY_BYTES`
    bytes of UTF-8 on a character boundary."""
    if 200 <= status < 300:
        return None
    quote = _vendor_message(body)
    message = f"the vendor answered HTTP {status}: {quote}" if quote else f"the vendor answered HTTP {status}"
    if status in (401, 403):
        return errors.unauthorized(message)
    if status in (404, 410):
        return errors.not_found(message)
    if status in (408, 425, 429) or 500 <= status <= 599:
        # Whole seconds in ASCII digits only: ``str.isdigit`` alone accepts "²", which
        # ``int`` refuses. ``errors.retryable`` saturates what a u64 cannot hold.
        after = retry_after.strip(" \t") if retry_after else ""
        seconds = after.isascii() and after.isdigit()
        return errors.retryable(message, int(after) if seconds else None)
    if status == 422:
        return errors.permanent(message)
    if 400 <= status <= 499:
        return errors.invalid_input(message)
    return errors.permanent(message)


def parse_json(body: bytes) -> Any:
    """``body`` as JSON, as ``serde_json`` reads it (the Rust SDK's parser), or ``ValueError``
    saying why not: UTF-8 without a byte-order mark, no ``NaN`` or ``Infinity``, numbers within
    the ``f64`` range, no lone surrogate escape, at most 127 levels deep (which also keeps
    Python's parser clear of its recursion limit)."""
    text = bytes(body).decode("utf-8")  # UnicodeDecodeError is a ValueError
    if _too_deep(text):
        raise ValueError(f"arrays and objects nested deeper than {_MAX_JSON_DEPTH} levels")
    value = _json.loads(text, parse_constant=_no_constant, parse_float=_f64, parse_int=_int_in_f64)
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise ValueError("a lone surrogate escape")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _f64(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]}... is beyond the f64 range")
    return value


def _int_in_f64(text: str) -> int:
    value = int(text)
    if len(text) > 300:
        try:
            float(value)
        except OverflowError:
            raise ValueError(f"{text[:20]}... is beyond the f64 range") from None
    return value


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`_MAX_JSON_DEPTH` in ``text`` (exact
    when it is valid JSON), at C speed: strings out, then a running sum over the brackets."""
    if text.count("[") + text.count("{") <= _MAX_JSON_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > _MAX_JSON_DEPTH


def _has_lone_surrogate(value: Any) -> bool:
    # Python's parser joins an escaped pair into one character: any surrogate left is alone.
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def _vendor_message(body: bytes) -> str:
    said = None
    try:
        parsed = parse_json(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error_description", "message", "detail", "error"):
            if isinstance(parsed.get(key), str):
                said = parsed[key]
                break
        else:
            inner = parsed.get("error")
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                said = inner["message"]
    if said is None:
        said = bytes(body).decode(errors="replace")
    # Cut on bytes; "ignore" drops only the partial character the cut may leave at the end.
    return said.strip(_WHITE_SPACE).encode()[:QUOTED_BODY_BYTES].decode(errors="ignore")


class Request:
    """A request being built; :meth:`send` sends it."""

    def __init__(self, method: str, url: str):
        self.method = method.upper()
        self.url = url
        self.headers: List[Tuple[str, str]] = []
        self.body = b""
        self.timeout_s: Optional[float] = None

    def header(self, name: str, value: str) -> "Request":
        self.headers.append((name.lower(), value))
        return self

    def bearer(self, token: str) -> "Request":
        return self.header("authorization", f"Bearer {token}")

    def query(self, name: str, value: str) -> "Request":
        """Appends the query parameter ``name=value``, percent-encoded."""
        sep = "&" if "?" in self.url else "?"
        self.url = f"{self.url}{sep}{encode_component(name)}={encode_component(value)}"
        return self

    def json(self, value: Any) -> "Request":
        """Sets a JSON body and ``content-type: application/json``."""
        self.body = _json.dumps(value, separators=(",", ":")).encode()
        return self.header("content-type", "application/json")

    def form(self, fields: Dict[str, str]) -> "Request":
        """Sets an HTML-form body, as OAuth2 token endpoints expect."""
        self.body = urlencode(fields).encode()
        return self.header("content-type", "application/x-www-form-urlencoded")

    def timeout(self, seconds: float) -> "Request":
        """Asks for a shorter limit than the host's for connecting, for the response head,
        and for each gap between body chunks. The host never allows a longer one."""
        self.timeout_s = seconds
        return self

    def send(self) -> Response:
        """Sends the request and reads the whole response."""
        return _send(self)


class Client:
    """A base URL with default headers and timeout."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.headers: List[Tuple[str, str]] = []
        self.timeout_s: Optional[float] = None

    def bearer(self, token: str) -> "Client":
        return self.header("authorization", f"Bearer {token}")

    def header(self, name: str, value: str) -> "Client":
        self.headers.append((name.lower(), value))
        return self

    def timeout(self, seconds: float) -> "Client":
        self.timeout_s = seconds
        return self

    def request(self, method: str, path: str) -> Request:
        request = Request(method, join(self.base_url, path))
        request.headers = list(self.headers)
        request.timeout_s = self.timeout_s
        return request

    def get(self, path: str) -> Request:
        return self.request("GET", path)

    def post(self, path: str) -> Request:
        return self.request("POST", path)

    def put(self, path: str) -> Request:
        return self.request("PUT", path)

    def patch(self, path: str) -> Request:
        return self.request("PATCH", path)

    def delete(self, path: str) -> Request:
        return self.request("DELETE", path)


def transport_error(url: str, code: "w.ErrorCode") -> Err:
    """What a ``wasi:http`` error code means: the plugin's own mistakes and refusals by the
    host's policy are ``permanent``; trouble on the network's or the vendor's side is
    ``retryable``."""
    if isinstance(code, w.ErrorCode_HttpRequestDenied):
        return errors.permanent(
            f"request to {url}: the host refused it: its scheme, host and port are not in the "
            "product's allowed_hosts (add them to [products.NAME] allowed_hosts)"
        )
    if isinstance(code, w.ErrorCode_DestinationIpProhibited):
        return errors.permanent(
            f"request to {url}: the host refused it: the name resolves to an internal address "
            "that allowed_hosts does not name"
        )
    name = type(code).__name__.removeprefix("ErrorCode_")
    if name.startswith("HttpRequest"):
        return errors.permanent(f"request to {url}: the request is malformed ({name})")
    if isinstance(code, w.ErrorCode_HttpResponseBodySize):
        return errors.permanent(
            f"request to {url}: the answer is larger than the host lets a plugin read"
        )
    if isinstance(code, (w.ErrorCode_ConfigurationError, w.ErrorCode_LoopDetected)):
        return errors.permanent(f"request to {url}: {name}")
    return errors.retryable(f"request to {url} failed: {code}")


def _stream_error(url: str, doing: str, error: Err) -> Err:
    value = error.value
    if isinstance(value, streams.StreamError_LastOperationFailed):
        code = w.http_error_code(value.value)
        if code is not None:
            return transport_error(url, code)
        return errors.retryable(f"{doing} of {url} failed: {value.value.to_debug_string()}")
    return errors.retryable(f"{doing} of {url} failed: the stream closed early")


def _send(request: Request) -> Response:
    url = request.url
    scheme, authority, path = split_url(url)
    fields = w.Fields()
    try:
        for name, value in request.headers:
            fields.append(name, value.encode())
        if request.body:
            # A length lets the vendor's server read the body without chunked encoding.
            fields.append("content-length", str(len(request.body)).encode())
    except Err as e:
        raise errors.permanent(f"a header of the request to {url} was refused: {e.value}") from None
    outgoing = w.OutgoingRequest(fields)
    method = _METHODS.get(request.method)
    try:
        outgoing.set_method(method() if method else w.Method_Other(request.method))
        outgoing.set_scheme(w.Scheme_Https() if scheme == "https" else w.Scheme_Http())
        outgoing.set_authority(authority)
        outgoing.set_path_with_query(path)
        body = outgoing.body()
    except Err:
        raise errors.permanent(f"the request to {url} was refused as built") from None
    options = None
    if request.timeout_s is not None:
        nanos = max(0, int(request.timeout_s * 1e9))
        options = w.RequestOptions()
        options.set_connect_timeout(nanos)
        options.set_first_byte_timeout(nanos)
        options.set_between_bytes_timeout(nanos)
    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as e:
        raise transport_error(url, e.value) from None
    if request.body:
        with body.write() as stream:
            for start in range(0, len(request.body), _WRITE_CHUNK):
                try:
                    stream.blocking_write_and_flush(request.body[start : start + _WRITE_CHUNK])
                except Err as e:
                    raise _stream_error(url, "sending the request body", e) from None
    try:
        w.OutgoingBody.finish(body, None)
    except Err as e:
        raise transport_error(url, e.value) from None

    with future:
        with future.subscribe() as pollable:
            pollable.block()
        answer = future.get()
    if answer is None or isinstance(answer, Err):
        raise errors.retryable(f"no response from {url}")
    # `get` answers ok(ok(response)) or ok(err(code)): the outer result is the future's own.
    inner = answer.value
    if isinstance(inner, Err):
        raise transport_error(url, inner.value)
    with inner.value as response:
        status = response.status()
        with response.headers() as head:
            headers = head.entries()
        with response.consume() as incoming:
            data = bytearray()
            with incoming.stream() as stream:
                while True:
                    try:
                        data += stream.blocking_read(_READ_CHUNK)
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        raise _stream_error(url, "reading the response", e) from None
    return Response(status, headers, bytes(data))
