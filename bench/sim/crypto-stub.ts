/**
 * What the simulator changes in the crypto, and only that: `sign` and `verifySignature` of
 * core/crypto/keys.ts (every Ed25519 signature in the system goes through these two). The
 * launcher (bench/sim/cli.ts) bundles the simulation with esbuild and points every import of
 * core/crypto/keys at this module; everything else in keys.ts (key generation, X25519, the
 * key and signature checks) is the real module, re-exported (the launcher resolves this
 * module's own import of keys.ts to the real file).
 *
 * Why: at 100k workers a receipt check costs a real Ed25519 verify plus, for every key that
 * fell out of the 8192-key LRU, the subgroup check (~0.8 ms; 2 ms on this loaded machine),
 * and a receipt signature ~50-160 µs: over the ~400k jobs of a 10-minute run that alone is
 * more than the time budget.
 *
 * How, honestly: a message is "sampled" when a hash of its bytes falls in 1/`every` of the
 * range (the same answer for the signer and the verifier). A sampled message is signed with
 * the real key and verified for real (its CPU time is measured and reported, and a false
 * verdict is counted as an error). Any other message gets the bytes of one real, pooled
 * signature, and its verification is stubbed: it checks only the shapes (32-byte key,
 * canonical 64-byte signature) and accepts. Nobody in the simulation forges anything.
 * Without the launcher (the unit test), nothing is stubbed.
 */
import * as real from "../../core/crypto/keys";
export * from "../../core/crypto/keys";

export interface SimCryptoStats {
  every: number;
  realSigns: number;
  pooledSigns: number;
  realVerifies: number;
  stubbedVerifies: number;
  realVerifyFailures: number;
  realVerifyMs: number[];
}

const g = globalThis as { __cocoonSimCrypto?: SimCryptoStats };
const stats: SimCryptoStats = (g.__cocoonSimCrypto ??= {
  every: 1,
  realSigns: 0,
  pooledSigns: 0,
  realVerifies: 0,
  stubbedVerifies: 0,
  realVerifyFailures: 0,
  realVerifyMs: [],
});

let pooled: Uint8Array | undefined;
const pooledSignature = () =>
  (pooled ??= real.sign(real.signingKeyFromSeed(new Uint8Array(32).fill(7)), "cocoon sim: one real signature, reused"));

const enc = new TextEncoder();
/** FNV-1a over the message: which messages are signed and verified for real. */
function sampled(msg: Uint8Array | string): boolean {
  if (stats.every <= 1) return true;
  const b = typeof msg === "string" ? enc.encode(msg) : msg;
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0) % stats.every === 0;
}

export function sign(kp: real.SigningKeyPair, msg: Uint8Array | string): Uint8Array {
  if (sampled(msg)) {
    stats.realSigns++;
    return real.sign(kp, msg);
  }
  stats.pooledSigns++;
  return pooledSignature();
}

export function verifySignature(publicKey: Uint8Array, msg: Uint8Array | string, sig: Uint8Array): boolean {
  if (sampled(msg)) {
    const t0 = performance.now();
    const ok = real.verifySignature(publicKey, msg, sig);
    stats.realVerifyMs.push(performance.now() - t0);
    stats.realVerifies++;
    if (!ok) stats.realVerifyFailures++;
    return ok;
  }
  stats.stubbedVerifies++;
  return publicKey instanceof Uint8Array && publicKey.length === 32 && real.ed25519SignatureProblem(sig) === undefined;
}
