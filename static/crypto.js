// Canonical JSON (RFC 8785 for the shapes of PROTOCOL §3: objects, arrays, strings, integers,
// booleans, null), SHA-256, Ed25519 verification and RFC 6962 / RFC 9162 Merkle proofs.

const enc = new TextEncoder();

export function jcs(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`canonical JSON: only integers, got ${value}`);
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value); // ECMAScript escaping is RFC 8785's
  if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
  if (typeof value === "object") {
    // Array.prototype.sort compares strings by UTF-16 code units, as RFC 8785 §3.2.3 asks.
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
  }
  throw new Error(`canonical JSON: unsupported ${typeof value}`);
}

export const utf8 = (s) => enc.encode(s);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function unhex(s) {
  if (typeof s !== "string" || !/^([0-9a-f]{2})*$/.test(s)) throw new Error(`not lowercase hex: ${s}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function b64u(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function unb64u(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** H(0x00 || JCS(leaf)) */
export async function leafHash(leaf) {
  return sha256(concat(new Uint8Array([0]), utf8(jcs(leaf))));
}

const node = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

/** RFC 9162 §2.1.3.2. Throws when the proof does not lead to `root`. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index >= 0 && index < size)) throw new Error(`index ${index} is not below tree size ${size}`);
  // A leaf hash is a SHA-256 digest (voting/core/merkle.py checks the same): an empty leaf would
  // match an empty root.
  if (!(leaf instanceof Uint8Array) || leaf.length !== 32) throw new Error(`leaf hash of ${leaf && leaf.length} bytes, want 32`);
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("inclusion proof too long");
    if (odd(fn) || fn === sn) {
      r = await node(p, r);
      while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      r = await node(r, p);
    }
    fn = half(fn); sn = half(sn);
  }
  if (sn !== 0) throw new Error("inclusion proof too short");
  if (!equalBytes(r, root)) throw new Error("inclusion proof leads to another root");
}

/** RFC 9162 §2.1.4.2. Throws unless the tree of size `second` extends the tree of size `first`. */
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first > second) throw new Error(`tree shrank from ${first} to ${second}`);
  if (first === 0) {
    // Every tree extends the empty one, whose root is the hash of nothing (RFC 6962 §2.1).
    if (proof.length) throw new Error("proof from the empty tree must be empty");
    if (!equalBytes(firstRoot, await sha256(new Uint8Array()))) throw new Error("the empty tree has another root");
    if (second === 0 && !equalBytes(firstRoot, secondRoot)) throw new Error("same size, different root");
    return;
  }
  if (first === second) {
    if (proof.length || !equalBytes(firstRoot, secondRoot)) throw new Error("same size, different root");
    return;
  }
  let path = proof.slice();
  if ((first & (first - 1)) === 0) path = [firstRoot, ...path];
  if (!path.length) throw new Error("empty consistency proof");
  let fn = first - 1, sn = second - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new Error("consistency proof too long");
    if (odd(fn) || fn === sn) {
      fr = await node(c, fr); sr = await node(c, sr);
      while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = await node(sr, c);
    }
    fn = half(fn); sn = half(sn);
  }
  if (sn !== 0) throw new Error("consistency proof too short");
  if (!equalBytes(fr, firstRoot) || !equalBytes(sr, secondRoot)) throw new Error("consistency proof does not match the roots");
}

export async function importServerKey(publicKeyB64u) {
  return crypto.subtle.importKey("raw", unb64u(publicKeyB64u), { name: "Ed25519" }, false, ["verify"]);
}

/** Check an envelope `{signed, signature, signer}` of `type` against a server key. */
export async function verifyEnvelope(envelope, type, key, keyId) {
  const keys = Object.keys(envelope).sort().join(",");
  if (keys !== "signature,signed,signer") throw new Error(`malformed envelope: ${keys}`);
  if (envelope.signed.v !== 1 || envelope.signed.type !== type) throw new Error(`want a signed ${type}`);
  if (keyId && envelope.signer !== keyId) throw new Error("signed by another key");
  const ok = await crypto.subtle.verify("Ed25519", key, unb64u(envelope.signature), utf8(jcs(envelope.signed)));
  if (!ok) throw new Error(`bad ${type} signature`);
}

export async function ed25519Available() {
  try {
    if (!window.isSecureContext || !crypto.subtle) return false;
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}
