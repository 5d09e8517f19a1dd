// The callback signature check, against HMAC-SHA256 values computed outside the SDK
// (the RFC 4231-style "key"/"quick brown fox" vector, and node:crypto's own HMAC).
import { createHmac } from "node:crypto";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeHex,
  encodeHex,
  signHmacSha256Hex,
  verifyHmacSha256Hex,
} from "../src/webhook.js";

const BODY = "The quick brown fox jumps over the lazy dog";
/** HMAC-SHA256 of BODY under "key", a published test vector. */
const KNOWN = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";

test("signs the known vector, from a string or from bytes", async () => {
  assert.equal(await signHmacSha256Hex("key", BODY), KNOWN);
  assert.equal(await signHmacSha256Hex("key", new TextEncoder().encode(BODY)), KNOWN);
});

test("accepts the right signature", async () => {
  assert.equal(await verifyHmacSha256Hex("key", BODY, KNOWN), true);
  assert.equal(await verifyHmacSha256Hex("key", new TextEncoder().encode(BODY), KNOWN), true);
});

test("accepts upper- and mixed-case hex, a sha256= prefix and surrounding whitespace", async () => {
  assert.equal(await verifyHmacSha256Hex("key", BODY, KNOWN.toUpperCase()), true);
  const mixed = Array.from(KNOWN, (c, i) => (i % 2 ? c.toUpperCase() : c)).join("");
  assert.equal(await verifyHmacSha256Hex("key", BODY, mixed), true);
  assert.equal(await verifyHmacSha256Hex("key", BODY, `sha256=${KNOWN}`), true);
  assert.equal(await verifyHmacSha256Hex("key", BODY, ` sha256=${KNOWN.toUpperCase()}\n`), true);
});

test("refuses a wrong secret, a changed body and a changed signature", async () => {
  assert.equal(await verifyHmacSha256Hex("other", BODY, KNOWN), false);
  assert.equal(await verifyHmacSha256Hex("key", "The quick brown fox", KNOWN), false);
  const flipped = (KNOWN[0] === "f" ? "e" : "f") + KNOWN.slice(1);
  assert.equal(await verifyHmacSha256Hex("key", BODY, flipped), false);
  // The prefix is only `sha256=`, in lower case.
  assert.equal(await verifyHmacSha256Hex("key", BODY, `sha1=${KNOWN}`), false);
});

test("refuses signatures of the wrong length", async () => {
  for (const sig of [KNOWN.slice(0, 32), KNOWN.slice(0, 63), KNOWN + "00", "", "sha256="]) {
    assert.equal(await verifyHmacSha256Hex("key", BODY, sig), false, JSON.stringify(sig));
  }
});

test("refuses non-hex and missing signatures", async () => {
  const nonHex = "g" + KNOWN.slice(1);
  for (const sig of [nonHex, "not hex", KNOWN.slice(0, 62) + " 8", undefined]) {
    assert.equal(await verifyHmacSha256Hex("key", BODY, sig), false, String(sig));
  }
});

test("an empty secret signs and verifies as HMAC with the empty key", async () => {
  // Web Crypto refuses a zero-length key; the SDK must still compute HMAC("", body).
  const expected = createHmac("sha256", "").update(BODY).digest("hex");
  assert.equal(await signHmacSha256Hex("", BODY), expected);
  assert.equal(await verifyHmacSha256Hex("", BODY, expected), true);
  assert.equal(await verifyHmacSha256Hex("", BODY, KNOWN), false);
  assert.equal(
    await signHmacSha256Hex("", ""),
    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
  );
});

test("agrees with node:crypto on secrets and bodies of other sizes", async () => {
  const body = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
  for (const secret of ["k", "x".repeat(64), "y".repeat(65), "é🔑"]) {
    const expected = createHmac("sha256", secret).update(body).digest("hex");
    assert.equal(await signHmacSha256Hex(secret, body), expected, secret);
    assert.equal(await verifyHmacSha256Hex(secret, body, expected), true, secret);
  }
});

test("hex helpers round-trip and refuse odd or non-hex input", () => {
  assert.deepEqual(decodeHex("00ff7A"), new Uint8Array([0, 255, 122]));
  assert.equal(encodeHex(new Uint8Array([0, 255, 122])), "00ff7a");
  assert.deepEqual(decodeHex(""), new Uint8Array([]));
  assert.equal(decodeHex("abc"), undefined);
  assert.equal(decodeHex("zz"), undefined);
  assert.equal(decodeHex("+1"), undefined);
});
