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
 */
import { PluginError } from "./errors.js";

/** How much of a vendor's error body an error message quotes, in characters (code points). */
export const QUOTED_BODY_CHARS = 512;

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

  text(): string {
    return new TextDecoder().decode(this.body);
  }

  /** The body as JSON; a body that is not JSON is `upstream-retryable` (a proxy's HTML page). */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (e) {
      throw PluginError.retryable(
        `the vendor answered HTTP ${this.status} with a body that is not JSON: ${(e as Error).message}`,
      );
    }
  }

  /** This response if its status is 2xx, else the `PluginError` for the status. */
  errorForStatus(): this {
    const error = statusError(this.status, this.header("retry-after"), this.text());
    if (error) throw error;
    return this;
  }
}

/**
 * The error for a failure status, as the Rust SDK maps it:
 *
 * | status | case |
 * |---|---|
 * | 401, 403 | `unauthorized` |
 * | 404, 410 | `not-found` |
 * | 408, 425, 429, 5xx | `upstream-retryable`, `Retry-After` seconds as `retryAfterMs` |
 * | 422 | `permanent` (the vendor understood and refuses) |
 * | other 4xx | `invalid-input` |
 * | 1xx, 3xx | `permanent` (the base URL is probably wrong) |
 *
 * The message names the status and quotes the vendor: `error_description`, `message`,
 * `detail`, `error` or `error.message` of a JSON body, else the start of the body.
 */
export function statusError(
  status: number,
  retryAfter: string | undefined,
  body: string,
): PluginError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const message = `the vendor answered HTTP ${status}: ${vendorMessage(body)}`;
  if (status === 401 || status === 403) return PluginError.unauthorized(message);
  if (status === 404 || status === 410) return PluginError.notFound(message);
  if ([408, 425, 429].includes(status) || (status >= 500 && status <= 599)) {
    // Seconds only: an HTTP-date `Retry-After` is ignored (the host's own backoff applies); a
    // number too large for a u64 of milliseconds saturates in `PluginError.retryable`.
    const seconds = retryAfter !== undefined && /^\s*\d+\s*$/.test(retryAfter);
    return PluginError.retryable(message, seconds ? Number(retryAfter) * 1000 : undefined);
  }
  if (status === 422) return PluginError.permanent(message);
  if (status >= 400 && status <= 499) return PluginError.invalidInput(message);
  return PluginError.permanent(message);
}

function vendorMessage(body: string): string {
  let said = body;
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const error = json?.error as Record<string, unknown> | undefined;
    const found = [json?.error_description, json?.message, json?.detail, json?.error, error?.message]
      .find((v) => typeof v === "string");
    if (typeof found === "string") said = found;
  } catch {
    // Not JSON: quote the body itself.
  }
  // Cut by code points, not UTF-16 units: half a surrogate pair is not a WIT string.
  return Array.from(said.trim()).slice(0, QUOTED_BODY_CHARS).join("");
}
