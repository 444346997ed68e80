import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { b64u } from "../core/crypto/encoding";
import { signingKeyFromSeed, type SigningKeyPair } from "../core/crypto/keys";
import { SettingsError } from "./settings";

/**
 * Set to 1 where the file system cannot keep Unix modes (some mounted volumes and secrets): a
 * key file readable by group or others is then loaded anyway.
 */
export const ALLOW_OPEN_KEY_ENV = "COCOON_KEY_ALLOW_OPEN";

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Loads an existing Ed25519 identity (a base64url seed in a file). Refused, with a SettingsError
 * whose code names the problem and whose message names the file and the fix:
 *   - no_key: there is none (nothing is created: read-only commands must not mint an identity);
 *   - key_file_too_open: group or others may read or write it. Whoever reads the seed signs as
 *     this account (withdraws its balance, redeems a worker's earnings), so like ssh with a private
 *     key we refuse rather than warn: a warning scrolls by in a service log and the key stays
 *     exposed. COCOON_KEY_ALLOW_OPEN=1 overrides it where modes mean nothing;
 *   - key_file_unreadable: it cannot be read by this user (EACCES: another user's file);
 *   - key_file_malformed: it holds no 32-byte seed.
 */
export function loadKey(path: string, env: NodeJS.ProcessEnv = process.env): SigningKeyPair {
  let mode: number;
  try {
    const st = statSync(path);
    // said before the mode: a shared directory's (/tmp, 1777) would read as a key file others may read
    if (st.isDirectory())
      throw new SettingsError(
        `${path} is a directory, not a key file: point --key at the key file itself (a file name in it, such as ${join(path, "my.key")})`,
        "key_file_unreadable",
      );
    mode = st.mode;
  } catch (e) {
    if (e instanceof SettingsError) throw e;
    if (errnoOf(e) === "ENOENT") throw new SettingsError(`there is no key file at ${path}`, "no_key");
    throw unreadable(path, e);
  }
  // Windows has no such modes (Node reports 0o666 for every writable file).
  if ((mode & 0o077) !== 0 && process.platform !== "win32" && env[ALLOW_OPEN_KEY_ENV] !== "1")
    throw new SettingsError(
      `the key file ${path} may be read or written by other users (mode 0${(mode & 0o777).toString(8)}): anyone who reads it can sign as this account and spend its funds. ` +
        `Make it yours alone: chmod 600 ${path} (where the file system keeps no modes, set ${ALLOW_OPEN_KEY_ENV}=1)`,
      "key_file_too_open",
    );
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw unreadable(path, e);
  }
  let seed: Uint8Array | undefined;
  try {
    seed = b64u.decode(text.trim());
  } catch {
    seed = undefined; // not base64url: refused below like a seed of the wrong length
  }
  // An empty file never held a key (older versions left one when the disk was full as they made it):
  // said, so that it is deleted rather than searched for a lost key.
  if (!text.trim())
    throw new SettingsError(
      `the key file ${path} is empty: no key was ever written to it (a disk that was full when it was made); delete it, and the next command that uses it makes a new key (a new account, a new worker id: it held nothing)`,
      "key_file_malformed",
    );
  if (seed?.length !== 32)
    throw new SettingsError(`${path} does not hold a 32-byte base64url key seed: is it a Cocoon key file?`, "key_file_malformed");
  return signingKeyFromSeed(seed);
}

function unreadable(path: string, e: unknown): SettingsError {
  return new SettingsError(
    `cannot read the key file ${path} (${errnoOf(e)}): run as the user who owns it (ls -l ${path}), or point --key at a key file of yours`,
    "key_file_unreadable",
  );
}

/**
 * An Ed25519 identity kept as a base64url seed in a 0600 file, in a directory made 0700 when
 * this creates it; created on first use, otherwise loaded (and refused) as loadKey says.
 */
export function loadOrCreateKey(path: string, env: NodeJS.ProcessEnv = process.env): SigningKeyPair {
  return loadOrMakeKey(path, env).key;
}

/**
 * loadOrCreateKey, saying whether this call wrote the file (`made`). Only the writer's exclusive
 * create says so: a file another process wrote after an existence check was made by that process,
 * and one that may undo its own new key (cocoon-agent start) must not take it for its own.
 */
export function loadOrMakeKey(path: string, env: NodeJS.ProcessEnv = process.env): { key: SigningKeyPair; made: boolean } {
  try {
    return { key: loadKey(path, env), made: false };
  } catch (e) {
    if (!(e instanceof SettingsError && e.code === "no_key")) throw e;
  }
  // 0700: the directory will hold the key (and the withdrawal state beside it); an existing one is left as it is.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const seed = randomBytes(32);
  let fd: number;
  try {
    // wx: two processes creating it at once must not both use a key of their own, one of them overwritten
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if (errnoOf(e) === "EEXIST") return { key: loadKey(path, env), made: false };
    throw e;
  }
  try {
    const bytes = Buffer.from(b64u.encode(seed) + "\n");
    if (writeSync(fd, bytes) !== bytes.length) throw new Error(`could not write the whole key file ${path}: is the disk full?`);
    // on disk before anything signs with it: a power cut must not leave an empty file behind
    fsyncSync(fd);
  } catch (e) {
    // A full disk (ENOSPC) left the file this call created empty, and every later start refused it
    // as key_file_malformed, a config error that no restart retries, after space was freed. The
    // file is this call's own (wx), holds no key yet, and nothing has signed with it: removed.
    closeSync(fd);
    unlinkSync(path);
    throw e;
  }
  closeSync(fd);
  chmodSync(path, 0o600);
  return { key: signingKeyFromSeed(seed), made: true };
}
