/// <reference path="./wasi-keyvalue-store.d.ts" />
declare module 'assay:plugin/state@0.2.0' {
  /**
   * `bucket.set`, and the key is gone `ttl-ms` milliseconds later (a cached token's
   * lifetime, say). A later `set` of the key replaces the value and drops the expiry.
   */
  export function setWithExpiry(bucket: Bucket, key: string, value: Uint8Array, ttlMs: bigint): void;
  export type Bucket = import('wasi:keyvalue/store@0.2.0-draft').Bucket;
  export type Error = import('wasi:keyvalue/store@0.2.0-draft').Error;
}
