/**
 * Checking the signatures of the vendor's callbacks.
 *
 * Anyone can reach the host's callback route, so check that a callback comes from the vendor
 * before turning it into results. The common scheme: HMAC-SHA256 of the raw body under a
 * shared secret, hex-encoded in a header. Check the raw bytes (`request.body`) before parsing:
 * re-serialised JSON is not the same bytes.
 *
 * ```ts
 * const genuine = await verifyHmacSha256Hex(settings.require("webhook_secret"),
 *   request.body, header(request, "x-codetest-signature"));
 * ```
 *
 * Uses Web Crypto (`crypto.subtle`), which StarlingMonkey provides inside the component and
 * Node provides in tests.
 */

const encoder = new TextEncoder();

/**
 * Web Crypto refuses a zero-length HMAC key, but HMAC itself pads every key shorter than the
 * SHA-256 block with zeros to 64 bytes: the empty key is the same key as 64 zero bytes. So an
 * empty secret signs and verifies as in the Rust and Python SDKs instead of throwing.
 */
async function hmacKey(secret: string): Promise<CryptoKey> {
  const raw = secret === "" ? new Uint8Array(64) : encoder.encode(secret);
  return crypto.subtle.importKey(
    "raw",
    raw,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

function bytes(body: Uint8Array | string): BufferSource {
  return (typeof body === "string" ? encoder.encode(body) : body) as BufferSource;
}

/** The bytes of `hex` (either case), or `undefined` if it is not whole hex bytes. */
export function decodeHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lower-case hex of `data`. */
export function encodeHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether `signatureHex` is the HMAC-SHA256 of `body` under `secret`: hex in either case,
 * optionally prefixed `sha256=`, surrounding whitespace ignored. A missing, truncated or
 * non-hex signature is `false`. `crypto.subtle.verify` compares in constant time.
 */
export async function verifyHmacSha256Hex(
  secret: string,
  body: Uint8Array | string,
  signatureHex: string | undefined,
): Promise<boolean> {
  if (signatureHex === undefined) return false;
  let signature = signatureHex.trim();
  if (signature.startsWith("sha256=")) signature = signature.slice("sha256=".length);
  const given = decodeHex(signature);
  if (given === undefined || given.length !== 32) return false;
  return crypto.subtle.verify("HMAC", await hmacKey(secret), given as BufferSource, bytes(body));
}

/** The hex HMAC-SHA256 of `body` under `secret` (for tests, and signing your own requests). */
export async function signHmacSha256Hex(
  secret: string,
  body: Uint8Array | string,
): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), bytes(body));
  return encodeHex(new Uint8Array(mac));
}
