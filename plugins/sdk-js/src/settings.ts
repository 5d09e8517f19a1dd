/**
 * The product's settings (`[products.NAME.settings]` in the host's configuration) and their
 * declaration in `metadata().settings`.
 *
 * Values are strings, possibly secrets: the host resolves `env:`/`file:` references before
 * handing them over and never logs them, so neither should a plugin; the errors below name
 * the key, never the value. Every call reads them afresh (a reload reaches the plugin without
 * a restart).
 */
import { setting } from "assay:plugin/host@0.2.0";
import type { SettingSpec } from "assay:plugin/types@0.2.0";
import { PluginError } from "./errors.js";

/** A setting the product must set; the host refuses a configuration without it. */
export function required(name: string, description: string): SettingSpec {
  return { name, description, required: true, secret: false };
}
/** A setting the product may leave out. */
export function optional(name: string, description: string): SettingSpec {
  return { name, description, required: false, secret: false };
}
/** A required credential: it must be an `env:NAME` or `file:/path` reference. */
export function secret(name: string, description: string): SettingSpec {
  return { name, description, required: true, secret: true };
}
/** An optional credential; when set, it must be a reference. */
export function optionalSecret(name: string, description: string): SettingSpec {
  return { name, description, required: false, secret: true };
}

/** The setting `key`, if set. */
export function get(key: string): string | undefined {
  return setting(key);
}

/** The setting `key`; missing or blank is `misconfigured`, naming the key. */
export function require(key: string): string {
  const value = get(key);
  if (value === undefined || value.trim() === "") {
    throw PluginError.misconfigured(`the setting \`${key}\` is not set`);
  }
  return value;
}

/**
 * The setting `key` as a number, `undefined` if not set. A value that is not a finite number
 * is `misconfigured`: a typo should stop the call, not fall back to a default silently.
 */
export function number(key: string): number | undefined {
  const value = get(key);
  if (value === undefined) return undefined;
  const parsed = value.trim() === "" ? NaN : Number(value.trim());
  if (!Number.isFinite(parsed)) {
    throw PluginError.misconfigured(`the setting \`${key}\` must be a number`);
  }
  return parsed;
}

/** The setting `key` parsed as JSON, `undefined` if not set; invalid JSON is `misconfigured`. */
export function json<T = unknown>(key: string): T | undefined {
  const value = get(key);
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch (e) {
    throw PluginError.misconfigured(
      `the setting \`${key}\` is not valid JSON: ${(e as Error).message}`,
    );
  }
}
