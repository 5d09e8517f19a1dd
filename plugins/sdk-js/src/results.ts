/**
 * Builders for results, callback answers and reading orders and callback requests, mirroring
 * the Rust SDK's conveniences.
 */
import type {
  AssessmentResult,
  CallbackOutcome,
  CallbackRequest,
  CallbackResponse,
  Freshness,
  Order,
  OrderResult,
  Package,
  PackageList,
  ResultValue,
  Score,
} from "assay:plugin/types@0.2.0";

export type ResultTag = ResultValue["tag"];

/** A `ResultValue` from its tag; `unmapped-value` carries the vendor's text. */
export function value(tag: Exclude<ResultTag, "unmapped-value">): ResultValue {
  return { tag } as ResultValue;
}
export function unmapped(vendorStatus: string): ResultValue {
  return { tag: "unmapped-value", val: vendorStatus };
}

/**
 * A result with only a status; spread it to fill in the rest:
 * `{ ...status("passed", "clear"), resultUrl: report }`.
 */
export function status(
  tag: ResultValue | Exclude<ResultTag, "unmapped-value">,
  sourceValue?: string,
): AssessmentResult {
  return {
    status: { value: typeof tag === "string" ? value(tag) : tag, sourceValue },
    attachments: [],
  };
}

/**
 * An `Overall` score of `percent`, rounded to a whole number and clamped to 0..100, with min
 * "0" and max "100": what the recruiter sees as a percentage. NaN counts as 0.
 */
export function percentScore(percent: number): Score {
  const v = Number.isNaN(percent) ? 0 : Math.round(Math.min(100, Math.max(0, percent)));
  return { label: "Overall", value: String(v), min: "0", max: "100" };
}

/** Whether a status ends the order (the host then stops polling it). */
export function isFinal(v: ResultValue): boolean {
  return ["completed", "passed", "failed", "expired", "cancelled"].includes(v.tag);
}

/** A result for StackOne's order id (`order.id`). */
export function forOrder(orderId: string, result: AssessmentResult): OrderResult {
  return { order: { tag: "order-id", val: orderId }, result };
}
/** A result for the vendor's id that `fulfilOrder` returned as `externalId`. */
export function forExternal(externalId: string, result: AssessmentResult): OrderResult {
  return { order: { tag: "external-id", val: externalId }, result };
}

/**
 * A package list the host may reuse for `maxAgeS` seconds, and `staleIfErrorS` more while the
 * vendor fails; without `maxAgeS` the host asks every time.
 */
export function packageList(
  packages: Package[],
  maxAgeS?: number,
  staleIfErrorS = 0,
): PackageList {
  const freshness: Freshness | undefined =
    maxAgeS === undefined || maxAgeS <= 0
      ? undefined
      : { maxAgeS: clampU32(maxAgeS), staleIfErrorS: clampU32(staleIfErrorS) };
  return { packages, freshness };
}

function clampU32(n: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.floor(n)));
}

/** A package with an id and a name, no tests. */
export function assessmentPackage(id: string, name: string, description?: string): Package {
  return { id, name, description, tests: [] };
}

/** The vendor's id of the ordered package: `remoteId`, else StackOne's `id`; blank skipped. */
export function packageId(order: Order): string | undefined {
  return [order.package.remoteId, order.package.id].find((id) => id && id.trim() !== "");
}

/** The candidate's first non-blank e-mail address (StackOne lists the preferred first). */
export function candidateEmail(order: Order): string | undefined {
  return order.candidate.emails.map((e) => e.value.trim()).find((v) => v !== "");
}

/** The candidate's full name as far as StackOne sent it (possibly empty). */
export function candidateName(order: Order): string {
  return [order.candidate.firstName, order.candidate.lastName]
    .map((s) => s?.trim() ?? "")
    .filter((s) => s !== "")
    .join(" ");
}

/** The first header `name` (case-insensitive) of a callback request, as UTF-8 text. */
export function header(request: CallbackRequest, name: string): string | undefined {
  const found = request.headers.find((h) => h.name.toLowerCase() === name.toLowerCase());
  if (found === undefined) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(found.value);
  } catch {
    return undefined;
  }
}

/** A response with `status` and a JSON body. */
export function jsonResponse(status: number, body: unknown): CallbackResponse {
  return {
    status,
    headers: [{ name: "content-type", value: new TextEncoder().encode("application/json") }],
    body: new TextEncoder().encode(JSON.stringify(body)),
  };
}

/** A handled callback: the host stores `results`, then sends `response`. */
export function handled(response: CallbackResponse, results: OrderResult[] = []): CallbackOutcome {
  return { tag: "handled", val: { response, results } };
}

/**
 * The callback names something this plugin does not know: the host answers 404 with
 * `reason`, counts and logs it, and stores nothing.
 */
export function unknown(reason: string): CallbackOutcome {
  return { tag: "unknown", val: reason };
}
