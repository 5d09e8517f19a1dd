// The vendor-API client: URL helpers, and real requests to a
// node:http server on 127.0.0.1 (Node's fetch stands in for the component's wasi:http one).
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { PluginError } from "../src/errors.js";
import { Client, encodeComponent, joinUrl } from "../src/http.js";

// What `statusError` and `json()` make of each answer is checked row by row against the table
// all three SDKs share, in conformance.test.ts.

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

test("a 2xx answer whose body is not JSON is permanent (the site, not the API)", async () => {
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
        e.tag === "permanent" &&
        e.message.startsWith("permanent: the vendor's answer (HTTP 200) is not the expected JSON: "),
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
