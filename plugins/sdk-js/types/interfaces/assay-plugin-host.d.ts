declare module 'assay:plugin/host@0.2.0' {
  /**
   * Writes a structured log line. The host tags it with the product and plugin version.
   * Long messages and many fields are truncated.
   */
  export function log(level: LogLevel, message: string, fields: Array<[string, string]>): void;
  /**
   * Returns the product's setting `key` from `[products.NAME.settings]` in the host's
   * configuration, with secret references already resolved; `none` if it is not set.
   * Values are never logged by the host.
   */
  export function setting(key: string): string | undefined;
  /**
   * Lists the names of the product's settings.
   */
  export function settingKeys(): Array<string>;
  /**
   * How important a log line is.
   * # Variants
   * 
   * ## `"trace"`
   * 
   * Fine detail for debugging.
   * ## `"debug"`
   * 
   * Debugging.
   * ## `"info"`
   * 
   * Normal operation.
   * ## `"warn"`
   * 
   * Something odd that did not stop the call.
   * ## `"error"`
   * 
   * A failure.
   */
  export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
}
