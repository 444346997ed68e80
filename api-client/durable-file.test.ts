/**
 * Replacing a file whole (api-client/durable-file.ts), as the withdrawal state, the local chain
 * and the agent's config do: the new content whole or the old one, the
 * mode asked for, the file and then its folder fsync'd, and no temporary file left by a failure.
 * Failures of the file system are played through the module's own seam (durableIo), not by
 * mocking node:fs for the process; renaming over a folder is a real one.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { durableIo, replaceFileSync } from "./durable-file";

const root = tempDir("cocoon-durable-");
let folders = 0;
/** A fresh folder holding `name` with `old` in it (mode 0644). */
function folderWith(old: string | undefined, name = "state.json") {
  const dir = join(root, `f${folders++}`);
  mkdirSync(dir);
  if (old !== undefined) writeFileSync(join(dir, name), old, { mode: 0o644 });
  return { dir, file: join(dir, name) };
}

const errno = (code: string) => Object.assign(new Error(`${code}: played`), { code });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("replaceFileSync", () => {
  it("replaces the file whole with the mode asked for, and leaves nothing else in the folder", () => {
    // Prepare: an old file of mode 0644 to replace, and a name not made yet
    const { dir, file } = folderWith("old content, longer than the new one\n");
    const fresh = join(dir, "fresh.key");
    // Act
    replaceFileSync(file, "new\n", { mode: 0o600 });
    replaceFileSync(fresh, "made\n", { mode: 0o640 });
    // Assess
    expect(readFileSync(file, "utf8")).toBe("new\n");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(fresh, "utf8")).toBe("made\n");
    expect(statSync(fresh).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(["fresh.key", "state.json"]);
  });

  it("renaming over a folder (a real failure, after the temporary file is written) leaves no temporary file and throws the errno", () => {
    // Prepare: the name is a folder with something in it
    const { dir, file } = folderWith(undefined);
    mkdirSync(file);
    writeFileSync(join(file, "inside"), "");
    // Act
    const failed = () => replaceFileSync(file, "new\n");
    // Assess
    expect(failed).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) }));
    expect(readdirSync(dir)).toEqual(["state.json"]);
    expect(statSync(file).isDirectory()).toBe(true);
  });
});

describe("a replace that fails keeps the old content whole and leaves no temporary file; the file system's error is thrown", () => {
  const failSync = (step: "writeSync" | "fsyncSync" | "renameSync", code: string) => () =>
    vi.spyOn(durableIo, step).mockImplementation(() => {
      throw errno(code);
    });
  it.each<[string, () => void, string]>([
    ["the write (a full disk)", failSync("writeSync", "ENOSPC"), "ENOSPC"],
    ["the file's fsync", failSync("fsyncSync", "EIO"), "EIO"],
    ["the rename", failSync("renameSync", "EACCES"), "EACCES"],
  ])("%s", (_what, fail, code) => {
    // Prepare
    const { dir, file } = folderWith("old\n");
    fail();
    // Act
    const failed = () => replaceFileSync(file, "new content\n", { mode: 0o600 });
    // Assess
    expect(failed).toThrow(expect.objectContaining({ code }));
    expect(readFileSync(file, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("the temporary file of a failed write was there to remove (the write failed after it was made)", () => {
    // Prepare: the write fails after looking at the folder
    const { dir, file } = folderWith("old\n");
    let during: string[] = [];
    vi.spyOn(durableIo, "writeSync").mockImplementation(() => {
      during = readdirSync(dir);
      throw errno("ENOSPC");
    });
    // Act
    const failed = () => replaceFileSync(file, "new\n");
    // Assess
    expect(failed).toThrow(/ENOSPC/);
    expect(during).toHaveLength(2);
    expect(during.find((f) => f !== "state.json")).toMatch(/^state\.json\.\d+-[0-9a-f]{12}\.tmp$/);
  });
});

describe("what is made durable", () => {
  it("replaceFileSync fsyncs the temporary file before the rename, and the folder after it", () => {
    // Prepare: every open, fsync and rename seen, by path
    const { dir, file } = folderWith("old\n");
    const seen: string[] = [];
    const paths = new Map<number, string>();
    const { openSync, fsyncSync, renameSync } = durableIo;
    vi.spyOn(durableIo, "openSync").mockImplementation((p, flags, mode) => {
      const fd = openSync(p, flags, mode);
      paths.set(fd, String(p) === dir ? "folder" : "temp");
      return fd;
    });
    vi.spyOn(durableIo, "fsyncSync").mockImplementation((fd) => (seen.push(`fsync ${paths.get(fd)}`), fsyncSync(fd)));
    vi.spyOn(durableIo, "renameSync").mockImplementation((a, b) => (seen.push("rename"), renameSync(a, b)));
    // Act
    replaceFileSync(file, "new\n");
    // Assess
    expect(seen).toEqual(["fsync temp", "rename", "fsync folder"]);
    expect(readFileSync(file, "utf8")).toBe("new\n");
  });

  it.each([
    ["cannot be opened (Windows: EISDIR)", "openSync", "EISDIR"],
    ["cannot be fsync'd (Windows: EPERM)", "fsyncSync", "EPERM"],
    ["cannot be read (written but not listed: EACCES)", "openSync", "EACCES"],
    ["cannot be fsync'd (a network or FUSE file system: EINVAL)", "fsyncSync", "EINVAL"],
  ] as const)("a folder that %s is left unsynced: the file is replaced all the same", (_what, step, code) => {
    // Prepare: the folder's own open or fsync (the second of each) refused
    const { file } = folderWith("old\n");
    const realStep = durableIo[step] as (...a: unknown[]) => unknown;
    let calls = 0;
    vi.spyOn(durableIo, step).mockImplementation(((...a: unknown[]) => {
      if (++calls === 2) throw errno(code);
      return realStep(...a);
    }) as never);
    // Act
    replaceFileSync(file, "new\n");
    // Assess
    expect(calls).toBe(2);
    expect(readFileSync(file, "utf8")).toBe("new\n");
  });

  it("an I/O error opening the folder is thrown too (not taken for a folder that cannot be opened)", () => {
    // Prepare: the second open (the folder's) fails with EIO
    const { file } = folderWith("old\n");
    const { openSync } = durableIo;
    let calls = 0;
    vi.spyOn(durableIo, "openSync").mockImplementation((p, flags, mode) => {
      if (++calls === 2) throw errno("EIO");
      return openSync(p, flags, mode);
    });
    // Act
    const replaced = () => replaceFileSync(file, "new\n");
    // Assess
    expect(replaced).toThrow(expect.objectContaining({ code: "EIO" }));
    expect(readFileSync(file, "utf8")).toBe("new\n");
  });

  it("an I/O error syncing the folder is thrown (the new content is in place, but not known to be durable)", () => {
    // Prepare
    const { file } = folderWith("old\n");
    const { fsyncSync } = durableIo;
    let calls = 0;
    vi.spyOn(durableIo, "fsyncSync").mockImplementation((fd) => {
      if (++calls === 2) throw errno("EIO");
      fsyncSync(fd);
    });
    // Act
    const replaced = () => replaceFileSync(file, "new\n");
    // Assess
    expect(replaced).toThrow(/EIO/);
    expect(readFileSync(file, "utf8")).toBe("new\n");
  });
});

describe("what a replace leaves open and how it writes", () => {
  it("closes every descriptor it opens: the temporary file's and the folder's, on success and on each failure", () => {
    // Prepare: every open and close seen; a replace that succeeds, one whose fsync fails, one whose folder fsync fails
    const { file } = folderWith("old\n");
    const { openSync, closeSync, fsyncSync } = durableIo;
    const open = new Set<number>();
    vi.spyOn(durableIo, "openSync").mockImplementation((p, flags, mode) => {
      const fd = openSync(p, flags, mode);
      open.add(fd);
      return fd;
    });
    vi.spyOn(durableIo, "closeSync").mockImplementation((fd) => {
      open.delete(fd);
      closeSync(fd);
    });
    const fsyncFailing = (nth: number) => {
      let calls = 0;
      return vi.spyOn(durableIo, "fsyncSync").mockImplementation((fd) => {
        if (++calls === nth) throw errno("EIO");
        fsyncSync(fd);
      });
    };
    // Act / Assess
    replaceFileSync(file, "new\n");
    expect(open.size).toBe(0);
    fsyncFailing(1);
    expect(() => replaceFileSync(file, "newer\n")).toThrow(/EIO/);
    expect(open.size).toBe(0);
    fsyncFailing(2);
    expect(() => replaceFileSync(file, "newest\n")).toThrow(/EIO/);
    expect(open.size).toBe(0);
    expect(readFileSync(file, "utf8")).toBe("newest\n");
  });

  it("writes the rest after a short write, until every byte is written", () => {
    // Prepare: a file system that writes at most 3 bytes a call
    const { file } = folderWith("old\n");
    const { writeSync } = durableIo;
    const data = new Uint8Array(Buffer.from("a longer content, written 3 bytes at a time\n"));
    vi.spyOn(durableIo, "writeSync").mockImplementation(((fd: number, b: Uint8Array, off: number, len: number) =>
      writeSync(fd, b, off, Math.min(len, 3))) as typeof writeSync);
    // Act
    replaceFileSync(file, data);
    // Assess
    expect(readFileSync(file)).toEqual(Buffer.from(data));
  });
});
