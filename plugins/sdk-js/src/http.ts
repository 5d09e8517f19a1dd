/**
 * An HTTP client for the vendor's API over `fetch`, which StarlingMonkey implements on the
 * host's `wasi:http/outgoing-handler` (filtered by the product's `allowed_hosts`).
 *
 * ```ts
 * const api = new Client(settings.require("base_url")).bearer(settings.require("api_token"));
 * const tests = await (await api.get("/api/tests").send()).errorForStatus().json<Tests>();
 * ```
 *
 * Any HTTP status is a `Response`; `errorForStatus()` turns a failure status into the
 * `PluginError` case the host acts on (table at `statusError`). A request that gets no answer
 * (refused connection, forbidden host, timeout) is `upstream-retryable`.
 *
 * The Rust and Python SDKs read a vendor's answer the same way, to the byte: every SDK's tests
 * check it against one table, `plugins/sdk-conformance/http-status.json`.
 */
import { PluginError } from "./errors.js";

/**
 * How much of the vendor's words an error message quotes: bytes of UTF-8, cut back to a
 * character boundary (never half a surrogate pair), as in the Rust and Python SDKs.
 */
export const QUOTED_BODY_BYTES = 300;

/** UTF-8 as the Rust SDK reads it: a byte-order mark is kept, not skipped. */
const LOSSY_UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The deepest nesting of arrays and objects `serde_json` (so the Rust SDK) reads. */
const MAX_JSON_DEPTH = 127;

/** A UTF-16 surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Unicode `White_Space`, what Rust's `str::trim` removes around the quote. JavaScript's own
 * `trim` differs: it also removes U+FEFF and keeps U+0085.
 */
const AROUND_WHITE_SPACE =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** `text` percent-encoded for one path segment or query value (RFC 3986 unreserved kept). */
export function encodeComponent(text: string): string {
  return Array.from(new TextEncoder().encode(text), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }).join("");
}

/** `base` and `path` joined with exactly one `/` between them. */
export function joinUrl(base: string, path: string): string {
  if (path === "") return base;
  return base.replace(/\/+$/, "") + "/" + path.replace(/^\/+/, "");
}

export class Client {
  readonly #base: string;
  readonly #headers: [string, string][];

  constructor(baseUrl: string, headers: [string, string][] = []) {
    this.#base = baseUrl;
    this.#headers = headers;
  }

  /** A client that sends `Authorization: Bearer <token>` on every request. */
  bearer(token: string): Client {
    return this.withHeader("authorization", `Bearer ${token}`);
  }

  /** A client that sends `name: value` on every request. */
  withHeader(name: string, value: string): Client {
    return new Client(this.#base, [...this.#headers, [name, value]]);
  }

  get(path: string): RequestBuilder {
    return this.request("GET", path);
  }
  post(path: string): RequestBuilder {
    return this.request("POST", path);
  }
  put(path: string): RequestBuilder {
    return this.request("PUT", path);
  }
  delete(path: string): RequestBuilder {
    return this.request("DELETE", path);
  }
  request(method: string, path: string): RequestBuilder {
    return new RequestBuilder(method, joinUrl(this.#base, path), [...this.#headers]);
  }
}

export class RequestBuilder {
  #body: Uint8Array | string | undefined;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: [string, string][],
  ) {}

  header(name: string, value: string): this {
    this.headers.push([name, value]);
    return this;
  }

  /** A JSON body, with `content-type: application/json`. */
  json(body: unknown): this {
    this.#body = JSON.stringify(body);
    return this.header("content-type", "application/json");
  }

  /** A raw body. */
  body(body: Uint8Array | string): this {
    this.#body = body;
    return this;
  }

  /** Sends the request; no answer at all is `upstream-retryable`. */
  async send(): Promise<Response> {
    let answer: globalThis.Response;
    try {
      answer = await fetch(this.url, {
        method: this.method,
        headers: this.headers,
        body: this.#body as BodyInit | undefined,
      });
    } catch (e) {
      throw PluginError.retryable(
        `${this.method} ${this.url} got no answer: ${(e as Error)?.message ?? String(e)}`,
      );
    }
    const body = new Uint8Array(await answer.arrayBuffer());
    return new Response(answer.status, answer.headers, body);
  }
}

export class Response {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly body: Uint8Array,
  ) {}

  header(name: string): string | undefined {
    return this.headers.get(name) ?? undefined;
  }

  /** The body as text (invalid UTF-8 replaced by U+FFFD, a byte-order mark kept). */
  text(): string {
    return LOSSY_UTF8.decode(this.body);
  }

  /**
   * The body as JSON, whatever the status. A body that is not JSON (as `parseJson` reads it)
   * is `permanent`: the vendor's API changed or the URL points elsewhere (a web page at a 2xx
   * is the site, not the API), and the same request gets the same answer. A gateway's passing
   * trouble comes with a 5xx, which `errorForStatus()` makes retryable first.
   */
  json<T = unknown>(): T {
    try {
      return parseJson(this.body) as T;
    } catch (e) {
      throw PluginError.permanent(
        `the vendor's answer (HTTP ${this.status}) is not the expected JSON: ${(e as Error).message}`,
      );
    }
  }

  /** This response if its status is 2xx, else the `PluginError` for the status. */
  errorForStatus(): this {
    const error = statusError(this.status, this.header("retry-after"), this.body);
    if (error) throw error;
    return this;
  }
}

/**
 * The error for a failure status, as the Rust and Python SDKs map it:
 *
 * | status | case |
 * |---|---|
 * | 401, 403 | `unauthorized` |
 * | 404, 410 | `not-found` |
 * | 408, 425, 429, 5xx | `upstream-retryable`, `Retry-After` seconds as `retryAfterMs` |
 * | 422 | `permanent` (the vendor understood and refuses) |
 * | other 4xx | `invalid-input` |
 * | 1xx, 3xx (and anything outside 100..599) | `permanent` (the base URL is probably wrong) |
 *
 * `Retry-After` counts only as delay-seconds: ASCII digits with spaces or tabs around them.
 * An HTTP date is ignored (the host's own backoff applies); a count beyond a `u64` of
 * milliseconds saturates at its maximum (exact: the digits are read as a `bigint`).
 *
 * The message is `the vendor answered HTTP <status>: <quote>`, without `: ` when there is
 * nothing to quote. The quote is the first string among `error_description`, `message`,
 * `detail`, `error` and `error.message` of a JSON body, else the body itself (invalid UTF-8
 * replaced); trimmed of Unicode `White_Space`, then cut to `QUOTED_BODY_BYTES` bytes of UTF-8
 * on a character boundary. A string `body` is taken as its UTF-8 bytes.
 */
export function statusError(
  status: number,
  retryAfter: string | undefined,
  body: Uint8Array | string,
): PluginError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const quote = vendorMessage(typeof body === "string" ? new TextEncoder().encode(body) : body);
  const message = quote === "" ? `the vendor answered HTTP ${status}` : `the vendor answered HTTP ${status}: ${quote}`;
  if (status === 401 || status === 403) return PluginError.unauthorized(message);
  if (status === 404 || status === 410) return PluginError.notFound(message);
  if ([408, 425, 429].includes(status) || (status >= 500 && status <= 599)) {
    return PluginError.retryable(message, delayMs(retryAfter));
  }
  if (status === 422) return PluginError.permanent(message);
  if (status >= 400 && status <= 499) return PluginError.invalidInput(message);
  return PluginError.permanent(message);
}

/** `Retry-After` delay-seconds in milliseconds (saturated by `PluginError.retryable`). */
function delayMs(retryAfter: string | undefined): bigint | undefined {
  const digits = retryAfter?.replace(/^[ \t]+|[ \t]+$/g, "");
  return digits !== undefined && /^[0-9]+$/.test(digits) ? BigInt(digits) * 1000n : undefined;
}

/**
 * The body as JSON, as `serde_json` reads it (the Rust SDK's parser), or a thrown `Error`
 * saying why not: UTF-8 without a byte-order mark, no lone surrogate escape, numbers within
 * the `f64` range (`JSON.parse` would give `Infinity`), at most `MAX_JSON_DEPTH` levels deep.
 */
export function parseJson(body: Uint8Array): unknown {
  let text: string;
  try {
    text = STRICT_UTF8.decode(body);
  } catch {
    throw new Error("the body is not UTF-8");
  }
  // The checks cost a reviver call per key and value and a second pass over the text (4× a
  // plain `JSON.parse` on a 200 KB list), so each runs only where the text could fail it.
  const value: unknown = MAY_NEED_REVIVER.test(text)
    ? JSON.parse(text, (key, value: unknown) => {
        if (LONE_SURROGATE.test(key) || (typeof value === "string" && LONE_SURROGATE.test(value))) {
          throw new Error("a lone surrogate escape");
        }
        if (typeof value === "number" && !Number.isFinite(value)) {
          throw new Error("a number beyond the f64 range");
        }
        return value;
      })
    : JSON.parse(text);
  if (opensMoreThan(text, MAX_JSON_DEPTH) && nesting(text) > MAX_JSON_DEPTH) {
    throw new Error(`arrays and objects nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value;
}

/**
 * Text where `JSON.parse` could give a lone surrogate or a non-finite number: a surrogate
 * escape (`\uD800` to `\uDFFF`), an exponent, or 309 digits in a row. A raw surrogate cannot
 * be there: the strict UTF-8 decoder refuses its bytes.
 */
const MAY_NEED_REVIVER = /\\u[dD][89a-fA-F]|[0-9][eE]|[0-9]{309}/;

/** Whether `text` has more than `limit` opening brackets (strings included): only then can it
 * nest deeper than `limit`. */
function opensMoreThan(text: string, limit: number): boolean {
  let opens = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x5b || c === 0x7b) && ++opens > limit) return true;
  }
  return false;
}

/** How deep arrays and objects nest in `text`, which is valid JSON. */
function nesting(text: string): number {
  // Only the characters that matter are visited; a backslash occurs only inside a string and
  // escapes the character after it.
  const structure = /["\\[\]{}]/g;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let found = structure.exec(text); found; found = structure.exec(text)) {
    const c = found[0];
    if (c === "\\") structure.lastIndex++;
    else if (c === '"') inString = !inString;
    else if (inString) continue;
    else if (c === "[" || c === "{") deepest = Math.max(deepest, ++depth);
    else depth--;
  }
  return deepest;
}

function vendorMessage(body: Uint8Array): string {
  let said: string | undefined;
  try {
    const json = parseJson(body) as Record<string, unknown> | null;
    const error = json?.error as Record<string, unknown> | null | undefined;
    const found = [json?.error_description, json?.message, json?.detail, json?.error, error?.message]
      .find((v) => typeof v === "string");
    if (typeof found === "string") said = found;
  } catch {
    // Not JSON: quote the body itself.
  }
  said = (said ?? LOSSY_UTF8.decode(body)).replace(AROUND_WHITE_SPACE, "");
  const bytes = new TextEncoder().encode(said);
  if (bytes.length <= QUOTED_BODY_BYTES) return said;
  // Back from the cut to the first byte of a character (a continuation byte is 10xxxxxx).
  let end = QUOTED_BODY_BYTES;
  while ((bytes[end] & 0xc0) === 0x80) end--;
  return LOSSY_UTF8.decode(bytes.subarray(0, end));
}
