// The result, package-list, order-reading and callback-answer builders.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CallbackRequest, Order, ResultValue } from "assay:plugin/types@0.2.0";
import {
  assessmentPackage,
  candidateEmail,
  candidateName,
  forExternal,
  forOrder,
  handled,
  header,
  isFinal,
  jsonResponse,
  packageId,
  packageList,
  percentScore,
  status,
  unknown,
  unmapped,
  value,
} from "../src/results.js";

function order(pkg: Order["package"], candidate: Partial<Order["candidate"]> = {}): Order {
  return {
    id: "ord-1",
    kind: "assessment",
    accountId: "acct-1",
    package: pkg,
    candidate: { emails: [], ...candidate },
    rawJson: "{}",
  };
}

function request(headers: [string, Uint8Array | string][]): CallbackRequest {
  return {
    method: "POST",
    path: "results",
    headers: headers.map(([name, v]) => ({
      name,
      value: typeof v === "string" ? new TextEncoder().encode(v) : v,
    })),
    body: new Uint8Array(),
  };
}

test("status builds a result from a tag or a value, with the vendor's word", () => {
  assert.deepEqual(status("passed", "clear"), {
    status: { value: { tag: "passed" }, sourceValue: "clear" },
    attachments: [],
  });
  assert.deepEqual(status("in-progress"), {
    status: { value: { tag: "in-progress" }, sourceValue: undefined },
    attachments: [],
  });
  assert.deepEqual(status(unmapped("on hold"), "on hold").status?.value, {
    tag: "unmapped-value",
    val: "on hold",
  });
  const spread = { ...status("completed"), resultUrl: "https://vendor.example/r/1" };
  assert.equal(spread.resultUrl, "https://vendor.example/r/1");
  assert.deepEqual(value("failed"), { tag: "failed" });
});

test("percentScore rounds half up to a whole number and clamps to 0..100", () => {
  const v = (p: number) => percentScore(p).value;
  assert.equal(v(86.5), "87");
  assert.equal(v(89.4), "89");
  assert.equal(v(0.5), "1");
  assert.equal(v(99.5), "100");
  assert.equal(v(-3), "0");
  assert.equal(v(250), "100");
  assert.equal(v(Infinity), "100");
  assert.equal(v(-Infinity), "0");
  assert.equal(v(NaN), "0");
  assert.deepEqual(percentScore(70), { label: "Overall", value: "70", min: "0", max: "100" });
});

test("isFinal is true exactly for the statuses that end an order", () => {
  const finals = ["completed", "passed", "failed", "expired", "cancelled"] as const;
  for (const tag of finals) assert.equal(isFinal(value(tag)), true, tag);
  for (const v of [value("initiated"), value("in-progress"), unmapped("completed")] as ResultValue[]) {
    assert.equal(isFinal(v), false, JSON.stringify(v));
  }
});

test("forOrder and forExternal name the order by StackOne's or the vendor's id", () => {
  const result = status("passed");
  assert.deepEqual(forOrder("ord-1", result), { order: { tag: "order-id", val: "ord-1" }, result });
  assert.deepEqual(forExternal("inv-9", result), {
    order: { tag: "external-id", val: "inv-9" },
    result,
  });
});

test("packageList sets freshness only for a positive max age, in u32 whole seconds", () => {
  const packages = [assessmentPackage("q1", "Quiz 1", "Ten questions")];
  assert.deepEqual(packages[0], { id: "q1", name: "Quiz 1", description: "Ten questions", tests: [] });
  assert.deepEqual(packageList(packages), { packages, freshness: undefined });
  assert.deepEqual(packageList(packages, 0), { packages, freshness: undefined });
  assert.deepEqual(packageList(packages, -5, 60), { packages, freshness: undefined });
  assert.deepEqual(packageList(packages, 300), {
    packages,
    freshness: { maxAgeS: 300, staleIfErrorS: 0 },
  });
  assert.deepEqual(packageList(packages, 300.9, 3600), {
    packages,
    freshness: { maxAgeS: 300, staleIfErrorS: 3600 },
  });
  assert.deepEqual(packageList(packages, 1e12, -1).freshness, {
    maxAgeS: 0xffffffff,
    staleIfErrorS: 0,
  });
});

test("packageId prefers the vendor's id and skips blank ones", () => {
  assert.equal(packageId(order({ id: "so-1", remoteId: "v-1", tests: [] })), "v-1");
  assert.equal(packageId(order({ id: "so-1", remoteId: "  ", tests: [] })), "so-1");
  assert.equal(packageId(order({ id: "so-1", tests: [] })), "so-1");
  assert.equal(packageId(order({ id: "", remoteId: "", tests: [] })), undefined);
  assert.equal(packageId(order({ tests: [] })), undefined);
});

test("candidateEmail is the first non-blank address, trimmed; candidateName joins the parts", () => {
  const pkg = { tests: [] };
  assert.equal(
    candidateEmail(order(pkg, { emails: [{ value: " " }, { value: " ada@example.com " }, { value: "b@example.com" }] })),
    "ada@example.com",
  );
  assert.equal(candidateEmail(order(pkg, { emails: [{ value: "" }] })), undefined);
  assert.equal(candidateEmail(order(pkg)), undefined);
  assert.equal(candidateName(order(pkg, { firstName: " Ada ", lastName: "Lovelace" })), "Ada Lovelace");
  assert.equal(candidateName(order(pkg, { lastName: "Lovelace" })), "Lovelace");
  assert.equal(candidateName(order(pkg, { firstName: "  " })), "");
});

test("header finds the first value case-insensitively and refuses non-UTF-8", () => {
  const req = request([
    ["x-codetest-signature", "abc"],
    ["X-Codetest-Signature", "second"],
    ["x-latin1", new Uint8Array([0xff, 0xfe])],
  ]);
  assert.equal(header(req, "X-CODETEST-SIGNATURE"), "abc");
  assert.equal(header(req, "x-codetest-signature"), "abc");
  assert.equal(header(request([["Content-Type", "text/plain"]]), "content-type"), "text/plain");
  assert.equal(header(req, "x-latin1"), undefined);
  assert.equal(header(req, "authorization"), undefined);
});

test("jsonResponse carries the status, a JSON content type and the JSON body", () => {
  const response = jsonResponse(202, { ok: true, id: "é" });
  assert.equal(response.status, 202);
  assert.deepEqual(
    response.headers.map((h) => [h.name, new TextDecoder().decode(h.value)]),
    [["content-type", "application/json"]],
  );
  assert.deepEqual(JSON.parse(new TextDecoder().decode(response.body)), { ok: true, id: "é" });
});

test("handled and unknown build the callback outcomes", () => {
  const response = jsonResponse(200, {});
  assert.deepEqual(handled(response), { tag: "handled", val: { response, results: [] } });
  const results = [forOrder("ord-1", status("passed"))];
  assert.deepEqual(handled(response, results), { tag: "handled", val: { response, results } });
  assert.deepEqual(unknown("no invitation inv-9"), { tag: "unknown", val: "no invitation inv-9" });
});
