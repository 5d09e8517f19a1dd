// PluginError: each case, its message, and the WIT `plugin-error` payload componentize-js
// lowers into the export's `err` side.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PluginError } from "../src/errors.js";

test("every case carries its WIT tag and message", () => {
  const cases: [PluginError, string][] = [
    [PluginError.invalidInput("no e-mail"), "invalid-input"],
    [PluginError.unauthorized("bad token"), "unauthorized"],
    [PluginError.notFound("no such test"), "not-found"],
    [PluginError.permanent("refused"), "permanent"],
    [PluginError.misconfigured("base_url is missing"), "misconfigured"],
    [PluginError.cancelled("withdrawn"), "cancelled"],
  ];
  for (const [error, tag] of cases) {
    assert.ok(error instanceof Error);
    assert.ok(error instanceof PluginError);
    assert.equal(error.name, "PluginError");
    assert.equal(error.tag, tag);
    assert.deepEqual(error.payload, { tag, val: (error.payload as { val: string }).val });
    assert.equal(error.message, `${tag}: ${(error.payload as { val: string }).val}`);
  }
  assert.deepEqual(PluginError.invalidInput("no e-mail").payload, {
    tag: "invalid-input",
    val: "no e-mail",
  });
  assert.deepEqual(PluginError.misconfigured("base_url is missing").payload, {
    tag: "misconfigured",
    val: "base_url is missing",
  });
});

test("retryable carries a message and an optional u64 hint in milliseconds", () => {
  const plain = PluginError.retryable("busy");
  assert.equal(plain.tag, "upstream-retryable");
  assert.equal(plain.message, "upstream-retryable: busy");
  assert.deepEqual(plain.payload, {
    tag: "upstream-retryable",
    val: { message: "busy", retryAfterMs: undefined },
  });
  assert.deepEqual(PluginError.retryable("busy", 1500).payload, {
    tag: "upstream-retryable",
    val: { message: "busy", retryAfterMs: 1500n },
  });
});

test("a retry hint outside u64 whole milliseconds is brought into range, never thrown", () => {
  const hint = (ms: number) => {
    const p = PluginError.retryable("busy", ms).payload;
    assert.equal(p.tag, "upstream-retryable");
    return p.val.retryAfterMs;
  };
  assert.equal(hint(0), 0n);
  assert.equal(hint(1500.9), 1500n);
  assert.equal(hint(-5), 0n);
  assert.equal(hint(NaN), 0n);
  assert.equal(hint(Infinity), 0xffff_ffff_ffff_ffffn);
  assert.equal(hint(1e30), 0xffff_ffff_ffff_ffffn);
  assert.equal(hint(2 ** 53), 2n ** 53n);
});

test("can be thrown and caught as an Error", () => {
  assert.throws(
    () => {
      throw PluginError.notFound("order 7");
    },
    (e: unknown) => e instanceof PluginError && e.tag === "not-found" && e.message === "not-found: order 7",
  );
});
