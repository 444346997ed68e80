import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { ALLOW_OPEN_KEY_ENV, loadKey, loadOrCreateKey } from "./keys";
import { SettingsError } from "./settings";

/** What `act` returned, or what it threw: a refusal is then asserted like a value. */
function outcomeOf(act: () => unknown): unknown {
  try {
    return act();
  } catch (e) {
    return e;
  }
}

// A file this user may not read (EACCES), whoever runs the tests (root reads everything): any file named denied.key.
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const readFileSync = ((p: string, ...rest: unknown[]) => {
    if (String(p).endsWith("denied.key")) throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: "EACCES" });
    return (fs.readFileSync as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});
const tmp = () => tempDir("cocoon-keys-");

/** Factory: a key file made by loadOrCreateKey, then given `mode`. */
function keyFileWithMode(mode: number, name = "requester.key") {
  const file = join(tmp(), name);
  const key = loadOrCreateKey(file);
  chmodSync(file, mode);
  return { file, key };
}

describe.skipIf(process.platform === "win32")("key files (api-client/keys.ts)", () => {
  let umask: number;
  beforeEach(() => {
    umask = process.umask(0o022); // what a login shell has
  });
  afterEach(() => {
    process.umask(umask);
  });

  it("a new key's directory is made 0700 (it holds the key and the withdrawal state), the key 0600", () => {
    // Prepare
    const dir = join(tmp(), "home", ".cocoon");
    // Act
    loadOrCreateKey(join(dir, "requester.key"));
    // Assess
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "requester.key")).mode & 0o777).toBe(0o600);
  });

  it("an existing directory keeps its mode (it may be the user's own)", () => {
    // Prepare
    const dir = tmp();
    chmodSync(dir, 0o755);
    // Act
    loadOrCreateKey(join(dir, "requester.key"));
    // Assess
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it.each(["644", "640", "604", "620"])("a key file of mode 0%s is refused: key_file_too_open, naming the file and chmod 600", (octal) => {
    // Prepare
    const mode = parseInt(octal, 8);
    const { file } = keyFileWithMode(mode);
    // Act
    const r = outcomeOf(() => loadOrCreateKey(file, {}));
    // Assess
    expect(r).toBeInstanceOf(SettingsError);
    expect(r).toMatchObject({ code: "key_file_too_open" });
    expect((r as Error).message).toContain(`chmod 600 ${file}`);
    expect((r as Error).message).toContain(`mode 0${mode.toString(8)}`);
    expect((r as Error).message).toContain(ALLOW_OPEN_KEY_ENV);
  });

  it(`${ALLOW_OPEN_KEY_ENV}=1 loads an open key file anyway (file systems without modes), the same key`, () => {
    // Prepare
    const { file, key } = keyFileWithMode(0o644);
    // Act
    const loaded = loadOrCreateKey(file, { [ALLOW_OPEN_KEY_ENV]: "1" });
    // Assess
    expect(loaded.id).toBe(key.id);
  });

  it("0600 and 0400 load the same key", () => {
    // Prepare
    const { file, key } = keyFileWithMode(0o400);
    // Act
    const again = loadOrCreateKey(file, {});
    chmodSync(file, 0o600);
    const rw = loadKey(file, {});
    // Assess
    expect([again.id, rw.id]).toEqual([key.id, key.id]);
  });

  it("an unreadable key file (another user's) is key_file_unreadable, naming the file and what to do (not a bare EACCES)", () => {
    // Prepare
    const { file } = keyFileWithMode(0o600, "denied.key");
    // Act
    const r = outcomeOf(() => loadOrCreateKey(file, {}));
    // Assess
    expect(r).toBeInstanceOf(SettingsError);
    expect(r).toMatchObject({ code: "key_file_unreadable" });
    expect((r as Error).message).toContain(`cannot read the key file ${file} (EACCES)`);
    expect((r as Error).message).toContain("run as the user who owns it");
  });

  it("a directory where the key should be is key_file_unreadable too", () => {
    // Prepare
    const file = join(tmp(), "requester.key");
    mkdirSync(file, { mode: 0o700 });
    // Act
    const r = outcomeOf(() => loadKey(file, {}));
    // Assess
    expect(r).toMatchObject({ code: "key_file_unreadable" });
  });

  it("a directory others may write (/tmp's 1777) given as the key file is said to be a directory, not a key file too open", () => {
    // Prepare
    const dir = join(tmp(), "shared");
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    // Act
    const made = outcomeOf(() => loadOrCreateKey(dir, {}));
    const loaded = outcomeOf(() => loadKey(dir, {}));
    // Assess
    for (const r of [made, loaded]) {
      expect(r).toBeInstanceOf(SettingsError);
      expect(r).toMatchObject({ code: "key_file_unreadable" });
      expect((r as Error).message).toBe(
        `${dir} is a directory, not a key file: point --key at the key file itself (a file name in it, such as ${join(dir, "my.key")})`,
      );
    }
  });

  it("loadKey makes nothing: no_key, and no file afterwards", () => {
    // Prepare
    const file = join(tmp(), "worker.key");
    // Act
    const r = outcomeOf(() => loadKey(file, {}));
    // Assess
    expect(r).toMatchObject({ code: "no_key" });
    expect(existsSync(file)).toBe(false);
  });

  it("a file that holds no 32-byte seed is key_file_malformed", () => {
    // Prepare
    const file = join(tmp(), "requester.key");
    writeFileSync(file, "not a seed\n", { mode: 0o600 });
    // Act
    const r = outcomeOf(() => loadKey(file, {}));
    // Assess
    expect(r).toMatchObject({ code: "key_file_malformed" });
  });

  it("an empty requester key file says what deleting it makes: a new key, an empty account (it said 'the next start', the agent's word)", () => {
    // Prepare
    const file = join(tmp(), "requester.key");
    writeFileSync(file, "", { mode: 0o600 });
    // Act
    const r = outcomeOf(() => loadKey(file, {})) as Error;
    // Assess
    expect(r).toMatchObject({ code: "key_file_malformed" });
    expect(r.message).toContain("delete it, and the next command that uses it makes a new key");
    expect(r.message).toContain("a new account, a new worker id");
  });
});
