/**
 * The agent's state directory ($COCOON_HOME: its worker key and agent.json) as a GPU owner's
 * machine has it when it is not writable: the disk is full, or the directory is not this user's
 * (init run before `systemd-tmpfiles --create`, or as another user than the service's). A full
 * disk used to leave an empty worker.key, which every later start refused as malformed (exit 78,
 * never restarted) once space was freed; each case ended with a bare errno (exit 1), which the
 * unit restarted every 15 s until its start limit, naming neither the user nor the fix.
 *
 * The test runs as root in CI, where permission bits stop nothing, so the file system's answers are
 * played: a "full" directory creates files but refuses their bytes (ENOSPC, as a full disk does),
 * a "locked" one refuses to create anything in it (EACCES), a "read-only" one is on a read-only
 * file system (a directory to be made under it fails as Node's recursive mkdir reports it there:
 * ENOENT on the path asked for; asked whether it may be written, it answers EROFS).
 */
import type * as fs from "node:fs";
import { readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import { runAgentCli } from "../agent/cli-testing";

const disk = vi.hoisted(() => ({
  full: new Set<string>(),
  locked: new Set<string>(),
  readonly: new Set<string>(),
  fds: new Map<number, string>(),
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const errno = (code: string, syscall: string, path?: string) =>
    Object.assign(new Error(`${code}: played, ${syscall}${path ? ` '${path}'` : ""}`), { code, syscall, ...(path ? { path } : {}) });
  const dirOf = (p: fs.PathLike) => dirname(resolve(String(p)));
  const locked = (p: fs.PathLike) => [...disk.locked].some((d) => resolve(String(p)).startsWith(d + "/"));
  const readonly = (p: fs.PathLike) => [...disk.readonly].some((d) => (resolve(String(p)) + "/").startsWith(d + "/"));
  return {
    ...real,
    mkdirSync: (p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
      if (locked(p)) throw errno("EACCES", "mkdir", String(p));
      if (readonly(p) && !real.existsSync(p)) throw errno("ENOENT", "mkdir", String(p));
      return real.mkdirSync(p, o);
    },
    accessSync: (p: fs.PathLike, mode?: number) => {
      if (readonly(p) && mode !== undefined && (mode & real.constants.W_OK) !== 0) throw errno("EROFS", "access", String(p));
      return real.accessSync(p, mode);
    },
    openSync: (p: fs.PathLike, flags: fs.OpenMode = "r", mode?: fs.Mode) => {
      if (locked(p)) throw errno("EACCES", "open", String(p));
      const fd = real.openSync(p, flags, mode);
      disk.fds.set(fd, String(p));
      return fd;
    },
    writeSync: (fd: number, ...rest: unknown[]) => {
      const p = disk.fds.get(fd);
      if (p !== undefined && disk.full.has(dirOf(p))) throw errno("ENOSPC", "write");
      return (real.writeSync as (fd: number, ...a: unknown[]) => number)(fd, ...rest);
    },
    // a full disk creates the file (an inode is free), then refuses its bytes: the file stays, empty
    writeFileSync: (p: fs.PathOrFileDescriptor, data: string, o?: fs.WriteFileOptions) => {
      if (typeof p !== "number" && locked(p)) throw errno("EACCES", "open", String(p));
      if (typeof p !== "number" && disk.full.has(dirOf(p))) {
        const flag = typeof o === "object" && o?.flag ? String(o.flag) : "w";
        const mode = typeof o === "object" && o?.mode !== undefined ? o.mode : 0o666;
        real.closeSync(real.openSync(p, flag, mode));
        throw errno("ENOSPC", "write");
      }
      return real.writeFileSync(p, data, o);
    },
  };
});

afterEach(() => {
  disk.full.clear();
  disk.locked.clear();
  disk.readonly.clear();
});

const START = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0"];
const INIT = ["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0"];
const inHome = (home: string, argv: string[]) => runAgentCli(argv, { COCOON_HOME: home });

describe("cocoon-agent on a full disk", () => {
  it("start leaves no empty worker key behind, says the disk is full (exit 1: restarted), and once space is freed makes the key", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-full-");
    disk.full.add(home);
    // Act
    const full = await inHome(home, START);
    const left = readdirSync(home);
    disk.full.delete(home);
    const freed = await inHome(home, INIT);
    // Assess: the unit's restarts retry it (exit 1, not 78); nothing is left that a later start refuses
    expect(full.code).toBe(1);
    expect(full.err).toContain(`error [state_disk_full]: cannot write ${join(home, "worker.key")} (ENOSPC)`);
    expect(full.err).toContain("free some space and start again");
    expect(left).toEqual([]);
    expect(freed.err).toBe("");
    expect(freed.code).toBe(0);
    expect(freed.out).toContain("(made here, mode 0600");
    expect(readFileSync(join(home, "worker.key"), "utf8").trim()).toMatch(/^[\w-]{43}$/);
  });

  it("init leaves no temporary config file behind and says the disk is full", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-full-init-");
    disk.full.add(home);
    // Act
    const r = await inHome(home, INIT);
    // Assess
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error [state_disk_full]: cannot write ${join(home, "agent.json")} (ENOSPC)`);
    expect(readdirSync(home)).toEqual([]);
  });

  it("an empty worker key an older version left on a full disk is named as such (not 'is it a Cocoon key file?')", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-empty-key-");
    writeFileSync(join(home, "worker.key"), "", { mode: 0o600 });
    // Act
    const r = await inHome(home, START);
    // Assess: still refused (the key file is the owner's to remove), with what it is and the fix
    expect(r.code).toBe(78);
    expect(r.err).toContain(`error [key_file_malformed]: the key file ${join(home, "worker.key")} is empty: no key was ever written to it`);
    expect(r.err).toContain("delete it");
    expect(statSync(join(home, "worker.key")).size).toBe(0);
  });
});

describe("cocoon-agent with a state directory this user may not write", () => {
  it.each([
    ["start", START, "worker.key"],
    ["init", INIT, "agent.json"],
  ])("%s is a configuration error (exit 78: not restarted) naming the file, this user and the unit's fix", async (_cmd, argv, file) => {
    // Prepare: COCOON_HOME not made yet, under a directory that is not this user's
    const parent = tempDir("cocoon-agent-locked-");
    disk.locked.add(parent);
    const home = join(parent, "home");
    // Act
    const r = await inHome(home, argv);
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain(
      `error [state_unwritable]: cannot write ${join(home, file)} (EACCES): this user (${userInfo().username}) may not write ${home}`,
    );
    expect(r.err).toContain("sudo -u cocoon-agent");
    expect(r.err).toContain("systemd-tmpfiles --create");
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe("cocoon-agent with a state directory that cannot be made", () => {
  it.each([
    ["start", START, "worker.key"],
    ["init", INIT, "agent.json"],
  ])("%s, COCOON_HOME to be made on a read-only file system: exit 78 naming the read-only directory", async (_cmd, argv, file) => {
    // Prepare: COCOON_HOME two levels under a read-only mount
    const mount = tempDir("cocoon-agent-ro-");
    disk.readonly.add(mount);
    const home = join(mount, "cocoon", "home");
    // Act
    const r = await inHome(home, argv);
    // Assess: it used to end with Node's bare "ENOENT: no such file or directory, mkdir …" (exit 1, restarted)
    expect(r.err).toContain(`error [state_unwritable]: cannot write ${join(home, file)} (EROFS): ${mount} is on a read-only file system`);
    expect(r.err).toContain("point COCOON_HOME (or --config, --key) at a writable directory");
    expect(r.code).toBe(78);
  });

  it("start, COCOON_HOME under a link to nothing (an unmounted volume's): exit 78 naming the link", async () => {
    // Prepare
    const parent = tempDir("cocoon-agent-dangling-");
    symlinkSync(join(parent, "gone"), join(parent, "volume"));
    const home = join(parent, "volume", "home");
    // Act
    const r = await inHome(home, START);
    // Assess
    expect(r.err).toContain(
      `error [state_unwritable]: cannot write ${join(home, "worker.key")}: ${join(parent, "volume")} cannot be made (ENOENT: it is a link to a path that does not exist)`,
    );
    expect(r.code).toBe(78);
  });
});
