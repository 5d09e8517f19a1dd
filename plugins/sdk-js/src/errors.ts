/**
 * `plugin-error`, the failure every export may return, as a JavaScript exception.
 *
 * Throw a `PluginError` from an export and the component returns the matching `err` case:
 * the host decides what to do from the case (retry, park, 503), never from the message.
 *
 * ```ts
 * throw PluginError.invalidInput("the candidate has no e-mail address");
 * ```
 *
 * Any other exception escaping an export traps the call (the host counts it as a plugin
 * fault), so turn the failures you expect into one of these cases.
 */
import type { PluginError as WitPluginError } from "assay:plugin/types@0.2.0";

export type PluginErrorCase = WitPluginError["tag"];

export class PluginError extends Error {
  /** The WIT case; componentize-js lowers a thrown value's `payload` into the `err` side. */
  readonly payload: WitPluginError;

  constructor(payload: WitPluginError) {
    super(
      payload.tag === "upstream-retryable"
        ? `${payload.tag}: ${payload.val.message}`
        : `${payload.tag}: ${payload.val}`,
    );
    this.name = "PluginError";
    this.payload = payload;
  }

  get tag(): PluginErrorCase {
    return this.payload.tag;
  }

  /** Malformed or incomplete input. Not retried. */
  static invalidInput(message: string): PluginError {
    return new PluginError({ tag: "invalid-input", val: message });
  }
  /** The vendor refused the plugin's credentials. Not retried; the operator must act. */
  static unauthorized(message: string): PluginError {
    return new PluginError({ tag: "unauthorized", val: message });
  }
  /** Something the call named does not exist. Not retried. */
  static notFound(message: string): PluginError {
    return new PluginError({ tag: "not-found", val: message });
  }
  /**
   * A passing failure: the host tries again later (after `retryAfterMs`, if given). The hint
   * is a WIT `u64`: a fraction is rounded down, a negative or NaN hint is 0, and one beyond
   * the `u64` range (Infinity too) saturates, as the Rust SDK's does. A `bigint` is exact
   * where a `number` beyond 2^53 is not.
   */
  static retryable(message: string, retryAfterMs?: number | bigint): PluginError {
    return new PluginError({
      tag: "upstream-retryable",
      val: {
        message,
        retryAfterMs: retryAfterMs === undefined ? undefined : u64Millis(retryAfterMs),
      },
    });
  }
  /** Retrying will not help: the order is parked and StackOne gets `failed` with this text. */
  static permanent(message: string): PluginError {
    return new PluginError({ tag: "permanent", val: message });
  }
  /** A setting is missing or wrong: 503 naming the product; orders are retried. */
  static misconfigured(message: string): PluginError {
    return new PluginError({ tag: "misconfigured", val: message });
  }
  /** The vendor cancelled the order: parked, StackOne gets `cancelled`. */
  static cancelled(message: string): PluginError {
    return new PluginError({ tag: "cancelled", val: message });
  }
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

function u64Millis(ms: number | bigint): bigint {
  if (typeof ms === "bigint") return ms <= 0n ? 0n : ms >= U64_MAX ? U64_MAX : ms;
  if (Number.isNaN(ms) || ms <= 0) return 0n;
  if (ms >= 2 ** 64) return U64_MAX;
  return BigInt(Math.floor(ms));
}
