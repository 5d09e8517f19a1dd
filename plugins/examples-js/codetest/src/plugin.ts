/**
 * CodeTest in TypeScript: the same assessment plugin as the Rust `plugins/codetest`, for the
 * same vendor API, settings and callback answers (its module docs are the full reference).
 *
 * - `GET {base_url}/api/tests` → the package list (or the `packages` setting, a fixed
 *   catalogue), reusable for `packages_max_age_s` (300 s) and `packages_stale_if_error_s`
 *   (3600 s) more while CodeTest is down.
 * - `fulfilOrder`: `POST /api/invitations` with `Idempotency-Key: <order id>` and the order id
 *   as `reference`, so a repeated call gets the same invitation; first result `initiated`.
 * - `handleCallback`: checks `x-codetest-signature` (hex HMAC-SHA256 of the raw body under
 *   `webhook_secret`), turns `attempt.completed` into `passed`/`failed` against
 *   `pass_threshold` (default 70 %), acknowledges other events, and declines (404) an
 *   invitation CodeTest does not know.
 */
import {
  PluginError,
  assessmentPackage,
  candidateEmail,
  candidateName,
  definePlugin,
  handled,
  header,
  http,
  jsonResponse,
  log,
  packageId,
  packageList,
  percentScore,
  settings,
  status,
  unknown,
  webhook,
  type AssessmentResult,
  type OrderRef,
  type SettingSpec,
} from "@assay/plugin-sdk";

export const SIGNATURE_HEADER = "x-codetest-signature";
export const COMPLETED_EVENT = "attempt.completed";
export const DEFAULT_PASS_THRESHOLD = 70;
const PACKAGES_MAX_AGE_S = 300;
const PACKAGES_STALE_IF_ERROR_S = 3600;

export const declaredSettings: SettingSpec[] = [
  settings.required("base_url", "CodeTest's API, e.g. https://api.codetest.example"),
  settings.secret("api_token", "CodeTest API token"),
  settings.required(
    "callback_url",
    "This product's callback route on the host, where CodeTest reports attempts",
  ),
  settings.secret("webhook_secret", "Secret CodeTest signs its callbacks with"),
  settings.optional("pass_threshold", "Percent needed to pass, 0-100; default 70"),
  settings.optional(
    "packages",
    "A fixed catalogue as a JSON array of {id, name, description}, answered without calling CodeTest",
  ),
  settings.optional(
    "packages_max_age_s",
    "Seconds the host may reuse the package list; default 300, 0 never",
  ),
  settings.optional(
    "packages_stale_if_error_s",
    "Seconds past that the host may still answer it while CodeTest is down; default 3600",
  ),
];

interface Test {
  id: string;
  title: string;
  description?: string | null;
}
interface CatalogueEntry {
  id: string;
  name: string;
  description?: string | null;
}
interface Invitation {
  id: string;
  test_url: string;
  status?: string | null;
  reference?: string | null;
}
export interface AttemptEvent {
  event: string;
  invitation_id: string;
  reference?: string | null;
  score?: number | null;
  max_score?: number | null;
  started_at?: string | null;
  submitted_at?: string | null;
  report_url?: string | null;
}

/** The vendor's API, from the settings. */
function api(): http.Client {
  return new http.Client(settings.require("base_url")).bearer(settings.require("api_token"));
}

/** The pass mark in percent; outside 0..100 is a configuration problem. */
function passThreshold(): number {
  const threshold = settings.number("pass_threshold") ?? DEFAULT_PASS_THRESHOLD;
  if (threshold < 0 || threshold > 100) {
    throw PluginError.misconfigured("the setting `pass_threshold` must be between 0 and 100");
  }
  return threshold;
}

/** The order a reference or invitation id names: StackOne's id when CodeTest kept it. */
function orderRef(reference: string | null | undefined, invitationId: string): OrderRef {
  return reference && reference.trim() !== ""
    ? { tag: "order-id", val: reference }
    : { tag: "external-id", val: invitationId };
}

const orUndefined = (v: string | null | undefined) => v ?? undefined;

/** A finished attempt as a result: score in percent against the pass mark. */
export function attemptResult(event: AttemptEvent, threshold: number): AssessmentResult {
  const { score, max_score: max } = event;
  let percent: number | undefined;
  if (typeof score === "number" && typeof max === "number" && max > 0) percent = (score / max) * 100;
  else if (typeof score === "number" && (max === null || max === undefined)) percent = score;
  if (percent !== undefined && !Number.isFinite(percent)) percent = undefined;
  const shown = percent === undefined ? undefined : percentScore(percent);
  const p = shown ? Number(shown.value) : undefined;
  const tag = p === undefined ? "completed" : p >= threshold ? "passed" : "failed";
  return {
    ...status(tag, "completed"),
    score: shown,
    resultUrl: orUndefined(event.report_url),
    startDate: orUndefined(event.started_at),
    submissionDate: orUndefined(event.submitted_at),
    summary:
      p === undefined
        ? "Completed; see the report"
        : `Scored ${p}% (pass mark ${Math.round(threshold)}%)`,
  };
}

function isAttemptEvent(v: unknown): v is AttemptEvent {
  const e = v as AttemptEvent;
  const optional = (x: unknown, type: string) => x === undefined || x === null || typeof x === type;
  return (
    typeof v === "object" && v !== null &&
    typeof e.event === "string" && typeof e.invitation_id === "string" &&
    optional(e.reference, "string") && optional(e.score, "number") &&
    optional(e.max_score, "number") && optional(e.started_at, "string") &&
    optional(e.submitted_at, "string") && optional(e.report_url, "string")
  );
}

export const product = definePlugin({
  metadata: () => ({
    name: "codetest",
    version: "0.2.0",
    description: "CodeTest coding assessments (TypeScript)",
    kinds: ["assessment"],
    settings: declaredSettings,
  }),

  async listPackages() {
    const catalogue = settings.json<CatalogueEntry[]>("packages");
    let packages;
    if (catalogue !== undefined) {
      if (!Array.isArray(catalogue) || !catalogue.every((c) => typeof c?.id === "string" && typeof c?.name === "string")) {
        throw PluginError.misconfigured("the setting `packages` must be a JSON array of {id, name, description}");
      }
      packages = catalogue.map((c) => assessmentPackage(c.id, c.name, orUndefined(c.description)));
    } else {
      const answer = (await api().get("/api/tests").send()).errorForStatus();
      const { tests } = answer.json<{ tests: Test[] }>();
      packages = tests.map((t) => assessmentPackage(t.id, t.title, orUndefined(t.description)));
    }
    return packageList(
      packages,
      settings.number("packages_max_age_s") ?? PACKAGES_MAX_AGE_S,
      settings.number("packages_stale_if_error_s") ?? PACKAGES_STALE_IF_ERROR_S,
    );
  },

  async fulfilOrder(order) {
    const testId = packageId(order);
    if (testId === undefined) throw PluginError.invalidInput("the order names no package");
    const email = candidateEmail(order);
    if (email === undefined) throw PluginError.invalidInput("the candidate has no e-mail address");
    const body = {
      test_id: testId,
      reference: order.id,
      candidate: { name: candidateName(order), email },
      callback_url: settings.require("callback_url"),
    };
    // A 422 (CodeTest refuses the invitation as sent) is `permanent` in CodeTest's words.
    const answer = await api()
      .post("/api/invitations")
      .header("idempotency-key", order.id)
      .json(body)
      .send();
    const invitation = answer.errorForStatus().json<Invitation>();
    log.info("invitation created", { order: order.id, invitation: invitation.id });
    return {
      externalId: invitation.id,
      testUrl: invitation.test_url,
      firstResult: {
        ...status("initiated", orUndefined(invitation.status)),
        resultUrl: invitation.test_url,
        summary: "Invitation sent to the candidate",
      },
    };
  },

  async handleCallback(request) {
    if (request.method.toUpperCase() !== "POST") {
      return handled(jsonResponse(405, { error: "POST only" }));
    }
    const secret = settings.require("webhook_secret");
    const signed = await webhook.verifyHmacSha256Hex(
      secret,
      request.body,
      header(request, SIGNATURE_HEADER),
    );
    if (!signed) {
      log.warn("callback with a missing or wrong signature refused", { path: request.path });
      return handled(jsonResponse(401, { error: "bad signature" }));
    }
    let event: unknown;
    try {
      event = JSON.parse(new TextDecoder().decode(request.body));
    } catch (e) {
      return handled(jsonResponse(400, { error: `not a CodeTest event: ${(e as Error).message}` }));
    }
    if (!isAttemptEvent(event)) {
      return handled(jsonResponse(400, { error: "not a CodeTest event: missing or mistyped fields" }));
    }
    if (event.event !== COMPLETED_EVENT) {
      return handled(jsonResponse(200, { ok: true, ignored: event.event }));
    }
    const threshold = passThreshold();
    let order = orderRef(event.reference, event.invitation_id);
    if (order.tag === "external-id") {
      // No reference: ask CodeTest whose invitation it is; one it does not know is declined.
      const path = `/api/invitations/${http.encodeComponent(event.invitation_id)}`;
      const answer = await api().get(path).send();
      if (answer.status === 404 || answer.status === 410) {
        return unknown(`CodeTest has no invitation ${event.invitation_id} for this product`);
      }
      const invitation = answer.errorForStatus().json<Invitation>();
      order = orderRef(invitation.reference, invitation.id);
    }
    log.info("attempt completed", { invitation: event.invitation_id });
    return handled(jsonResponse(200, { ok: true }), [
      { order, result: attemptResult(event, threshold) },
    ]);
  },

  // CodeTest calls back; nothing to poll.
  pollResults: () => [],
});
