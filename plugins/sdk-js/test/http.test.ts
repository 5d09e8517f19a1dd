// The vendor-API client: what each failure status means, URL helpers, and real requests to a
// node:http server on 127.0.0.1 (Node's fetch stands in for the component's wasi:http one).
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { PluginError } from "../src/errors.js";
import { Client, encodeComponent, joinUrl, QUOTED_BODY_CHARS, statusError } from "../src/http.js";

/** The case, message and retry hint of what `statusError` gives. */
function mapped(status: number, retryAfter?: string, body = "") {
  const error = statusError(status, retryAfter, body);
  if (error === undefined) return undefined;
  const p = error.payload;
  return p.tag === "upstream-retryable"
    ? { tag: p.tag, message: p.val.message, retryAfterMs: p.val.retryAfterMs }
    : { tag: p.tag, message: p.val };
}

test("2xx is no error", () => {
  for (const s of [200, 201, 202, 204, 299]) assert.equal(statusError(s, "5", "oops"), undefined);
});

test("every row of the status table", () => {
  const rows: [number[], string][] = [
    [[401, 403], "unauthorized"],
    [[404, 410], "not-found"],
    [[408, 425, 429, 500, 502, 503, 504, 599], "upstream-retryable"],
    [[422], "permanent"],
    [[400, 402, 405, 409, 413, 415, 418, 451, 499], "invalid-input"],
    [[100, 101, 199, 300, 301, 302, 304, 399], "permanent"],
    [[600, 999], "permanent"],
  ];
  for (const [statuses, tag] of rows) {
    for (const s of statuses) {
      const m = mapped(s, undefined, "nope");
      assert.equal(m?.tag, tag, `HTTP ${s}`);
      assert.equal(m?.message, `the vendor answered HTTP ${s}: nope`);
    }
  }
});

test("Retry-After seconds become the retry hint in milliseconds; a date or junk is no hint", () => {
  assert.equal(mapped(503, "7")?.retryAfterMs, 7000n);
  assert.equal(mapped(429, " 120 ")?.retryAfterMs, 120_000n);
  assert.equal(mapped(408, "0")?.retryAfterMs, 0n);
  assert.equal(mapped(503)?.retryAfterMs, undefined);
  for (const junk of ["Wed, 21 Oct 2015 07:28:00 GMT", "-5", "1.5", "", "7s", "٣"]) {
    assert.equal(mapped(503, junk)?.retryAfterMs, undefined, junk);
  }
  // Too large for u64 milliseconds: saturates, as the Rust SDK does.
  assert.equal(mapped(429, "18446744073709551615")?.retryAfterMs, 0xffff_ffff_ffff_ffffn);
  // Only retryable statuses carry a hint.
  assert.equal(mapped(404, "7")?.tag, "not-found");
});

test("the message quotes the vendor's own words from a JSON body", () => {
  const said = (body: unknown) =>
    mapped(400, undefined, typeof body === "string" ? body : JSON.stringify(body))?.message;
  const prefix = "the vendor answered HTTP 400: ";
  assert.equal(said({ error_description: "token expired", message: "m" }), prefix + "token expired");
  assert.equal(said({ message: "bad email", detail: "d", error: "e" }), prefix + "bad email");
  assert.equal(said({ detail: "no such test", error: "e" }), prefix + "no such test");
  assert.equal(said({ error: "invalid_grant" }), prefix + "invalid_grant");
  assert.equal(said({ error: { message: "  nested words  ", code: 7 } }), prefix + "nested words");
  // A non-string field is skipped for the next one.
  assert.equal(said({ message: 42, detail: "the detail" }), prefix + "the detail");
  // JSON without any of them, and not JSON at all: the body itself, trimmed.
  assert.equal(said({ code: 7 }), prefix + '{"code":7}');
  assert.equal(said("  <html>Bad Gateway</html>\n"), prefix + "<html>Bad Gateway</html>");
  assert.equal(said("null"), prefix + "null");
  assert.equal(said(""), prefix);
});

test("the quote is cut at QUOTED_BODY_CHARS characters, never inside one", () => {
  const quote = (body: string) =>
    mapped(500, undefined, body)!.message.slice("the vendor answered HTTP 500: ".length);
  assert.equal(quote("x".repeat(QUOTED_BODY_CHARS + 100)), "x".repeat(QUOTED_BODY_CHARS));
  assert.equal(quote("y".repeat(QUOTED_BODY_CHARS)), "y".repeat(QUOTED_BODY_CHARS));
  assert.equal(quote(JSON.stringify({ message: "m".repeat(2000) })), "m".repeat(QUOTED_BODY_CHARS));
  // Emoji are two UTF-16 units: the cut keeps whole characters (no lone surrogate).
  const emoji = quote("🙂".repeat(QUOTED_BODY_CHARS + 1));
  assert.equal(Array.from(emoji).length, QUOTED_BODY_CHARS);
  assert.equal(emoji, "🙂".repeat(QUOTED_BODY_CHARS));
});

test("joinUrl puts exactly one slash between base and path", () => {
  assert.equal(joinUrl("https://api.example", "v1/tests"), "https://api.example/v1/tests");
  assert.equal(joinUrl("https://api.example/", "/v1/tests"), "https://api.example/v1/tests");
  assert.equal(joinUrl("https://api.example//", "//v1"), "https://api.example/v1");
  assert.equal(joinUrl("https://api.example/api", "tests?x=1"), "https://api.example/api/tests?x=1");
  assert.equal(joinUrl("https://api.example/api/", ""), "https://api.example/api/");
});

test("encodeComponent keeps RFC 3986 unreserved characters and encodes UTF-8 bytes", () => {
  assert.equal(encodeComponent("AZaz09-._~"), "AZaz09-._~");
  assert.equal(encodeComponent("a b/c?d&e=f#g%h+i"), "a%20b%2Fc%3Fd%26e%3Df%23g%25h%2Bi");
  assert.equal(encodeComponent("é"), "%C3%A9");
  assert.equal(encodeComponent("🙂"), "%F0%9F%99%82");
  assert.equal(encodeComponent("\n"), "%0A");
  assert.equal(encodeComponent(""), "");
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A real HTTP server on 127.0.0.1 answering every request with `answer`. */
async function vendor(answer: (seen: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const s = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(s);
      answer(s, res);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

test("send: bearer and per-request headers, a JSON body, and the JSON answer", async () => {
  const api = await vendor((s, res) => {
    res.writeHead(201, { "content-type": "application/json", "x-request-id": "r-1" });
    res.end(JSON.stringify({ id: "inv-1", echo: JSON.parse(s.body) }));
  });
  try {
    const client = new Client(api.base + "/").bearer("t0ken").withHeader("x-api-version", "2");
    const response = await client
      .post("/v1/invitations")
      .header("idempotency-key", "ord-1")
      .json({ email: "ada@example.com" })
      .send();
    assert.equal(response.status, 201);
    assert.equal(response.header("X-Request-Id"), "r-1");
    assert.equal(response.header("x-missing"), undefined);
    assert.deepEqual(response.errorForStatus().json(), {
      id: "inv-1",
      echo: { email: "ada@example.com" },
    });
    assert.equal(api.seen.length, 1);
    const [seen] = api.seen;
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/v1/invitations");
    assert.equal(seen.headers.authorization, "Bearer t0ken");
    assert.equal(seen.headers["x-api-version"], "2");
    assert.equal(seen.headers["idempotency-key"], "ord-1");
    assert.equal(seen.headers["content-type"], "application/json");
    assert.equal(seen.body, '{"email":"ada@example.com"}');
  } finally {
    await api.close();
  }
});

test("send: a raw body and the other methods reach the server as built", async () => {
  const api = await vendor((s, res) => res.end(`${s.method} ${s.url} ${s.body}`));
  try {
    const client = new Client(api.base);
    assert.equal((await client.get("tests?page=2").send()).text(), "GET /tests?page=2 ");
    assert.equal((await client.put("/t/1").body("raw bytes").send()).text(), "PUT /t/1 raw bytes");
    assert.equal(
      (await client.request("PATCH", "/t/1").body(new TextEncoder().encode("é")).send()).text(),
      "PATCH /t/1 é",
    );
    assert.equal((await client.delete("/t/1").send()).text(), "DELETE /t/1 ");
    // A header added to one request does not leak into the client's next one.
    const base = new Client(api.base).bearer("a");
    await base.get("/x").header("x-once", "1").send();
    await base.get("/y").send();
    assert.equal(api.seen.at(-2)?.headers["x-once"], "1");
    assert.equal(api.seen.at(-1)?.headers["x-once"], undefined);
  } finally {
    await api.close();
  }
});

test("errorForStatus maps a failure answer, with the vendor's message and Retry-After", async () => {
  const api = await vendor((s, res) => {
    if (s.url === "/busy") {
      res.writeHead(503, { "retry-after": "30", "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "maintenance" } }));
    } else {
      res.writeHead(401);
      res.end(JSON.stringify({ error_description: "token expired" }));
    }
  });
  try {
    const client = new Client(api.base);
    const busy = await client.get("/busy").send();
    assert.equal(busy.status, 503);
    assert.throws(
      () => busy.errorForStatus(),
      (e: unknown) =>
        e instanceof PluginError &&
        e.payload.tag === "upstream-retryable" &&
        e.payload.val.retryAfterMs === 30_000n &&
        e.payload.val.message === "the vendor answered HTTP 503: maintenance",
    );
    const denied = await client.get("/tests").send();
    assert.throws(
      () => denied.errorForStatus(),
      (e: unknown) =>
        e instanceof PluginError &&
        e.tag === "unauthorized" &&
        e.message === "unauthorized: the vendor answered HTTP 401: token expired",
    );
  } finally {
    await api.close();
  }
});

test("a 2xx answer whose body is not JSON is retryable (a proxy's page, say)", async () => {
  const api = await vendor((_s, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<html>Please wait</html>");
  });
  try {
    const response = (await new Client(api.base).get("/tests").send()).errorForStatus();
    assert.equal(response.text(), "<html>Please wait</html>");
    assert.throws(
      () => response.json(),
      (e: unknown) =>
        e instanceof PluginError &&
        e.tag === "upstream-retryable" &&
        e.message.startsWith("upstream-retryable: the vendor answered HTTP 200 with a body that is not JSON"),
    );
  } finally {
    await api.close();
  }
});

test("a refused connection is retryable and names the request", async () => {
  // A port that was just listening and is now closed refuses connections.
  const api = await vendor((_s, res) => res.end());
  await api.close();
  await assert.rejects(new Client(api.base).bearer("t").get("/tests").send(), (e: unknown) => {
    assert.ok(e instanceof PluginError);
    assert.equal(e.tag, "upstream-retryable");
    assert.ok(e.message.includes(`GET ${api.base}/tests got no answer`), e.message);
    return true;
  });
});
