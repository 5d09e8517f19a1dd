// The table every Assay SDK is checked against, plugins/sdk-conformance/http-status.json (a
// project `assay plugin new` wrote carries it in the SDK as conformance/http-status.json):
// what `statusError` and `Response.json()` make of a vendor's answer, row by row.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { test } from "node:test";
import { PluginError } from "../src/errors.js";
import { QUOTED_BODY_BYTES, Response, statusError } from "../src/http.js";

interface Row {
  name: string;
  status: number;
  retry_after?: string;
  body?: string;
  body_hex?: string;
  case?: string | null;
  message?: string;
  retry_after_ms?: string | null;
  value?: unknown;
  parses?: boolean;
  message_prefix?: string;
}

/** The table, from the SDK's own copy or the repository's (the test runs from dist-test/). */
function table(): { quoted_body_bytes: number; status: Row[]; json: Row[] } {
  const sdk = new URL("../", import.meta.url);
  const candidates = [
    new URL("conformance/http-status.json", sdk),
    new URL("../sdk-conformance/http-status.json", sdk),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`no conformance table at ${candidates.map((c) => fileURLToPath(c))}`);
  return JSON.parse(readFileSync(found, "utf8"));
}

function body(row: Row): Uint8Array {
  if (row.body_hex !== undefined) return new Uint8Array(Buffer.from(row.body_hex, "hex"));
  if (row.body !== undefined) return new TextEncoder().encode(row.body);
  throw new Error(`${row.name}: no body`);
}

/** The case, message and hint of an error, as the table writes them. */
function described(error: PluginError | undefined) {
  if (error === undefined) return { case: null };
  const p = error.payload;
  return p.tag === "upstream-retryable"
    ? { case: p.tag, message: p.val.message, retry_after_ms: p.val.retryAfterMs?.toString() ?? null }
    : { case: p.tag, message: p.val, retry_after_ms: null };
}

test("every row of the shared status table", () => {
  const { quoted_body_bytes, status: rows } = table();
  assert.equal(quoted_body_bytes, QUOTED_BODY_BYTES);
  assert.ok(rows.length > 50, `${rows.length} rows`);
  const failed: string[] = [];
  for (const row of rows) {
    const got = described(statusError(row.status, row.retry_after, body(row)));
    const want =
      row.case === null
        ? { case: null }
        : { case: row.case, message: row.message, retry_after_ms: row.retry_after_ms };
    if (!isDeepStrictEqual(got, want)) {
      failed.push(`${row.name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  }
  assert.equal(failed.length, 0, `${failed.length} of ${rows.length} rows differ:\n${failed.join("\n")}`);
});

test("every row of the shared json table", () => {
  const rows = table().json;
  assert.ok(rows.length > 10, `${rows.length} rows`);
  const failed: string[] = [];
  for (const row of rows) {
    const response = new Response(row.status, new Headers(), body(row));
    let ok: boolean;
    let got: unknown;
    try {
      got = response.json();
      ok = "value" in row ? isDeepStrictEqual(got, row.value) : row.parses === true;
    } catch (e) {
      got = e instanceof PluginError ? described(e) : String(e);
      ok =
        e instanceof PluginError &&
        e.tag === row.case &&
        (e.payload.val as string).startsWith(row.message_prefix ?? "\0");
    }
    if (!ok) failed.push(`${row.name}: got ${JSON.stringify(got)}`);
  }
  assert.equal(failed.length, 0, `${failed.length} of ${rows.length} rows differ:\n${failed.join("\n")}`);
});
