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
