import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { EngineError } from "./engine";
import { sha256File, validateGguf } from "./gguf";
import { buildTinyGguf, parseTinyArgs, TINY_MODEL_WARNING, TinyUsageError, tinyVocabulary, writeTinyGguf } from "./tiny-gguf";

/** The GGUF header check (no native code) and the project's tiny model generator. */

const dir = tempDir("cocoon-gguf-");

let n = 0;
function aFile(bytes: Uint8Array): string {
  const f = join(dir, `f${n++}.gguf`);
  writeFileSync(f, bytes);
  return f;
}

async function invalidReason(bytes: Uint8Array): Promise<string> {
  try {
    await validateGguf(aFile(bytes));
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe("model_invalid");
    return (err as EngineError).message;
  }
  throw new Error("expected the file to be refused");
}

/** The tiny model with one u64 (little-endian) overwritten at `offset`. */
function withU64(offset: number, value: bigint): Uint8Array {
  const b = Buffer.from(buildTinyGguf());
  b.writeBigUInt64LE(value, offset);
  return b;
}

describe("tiny GGUF", () => {
  it("is deterministic, under 1 MB, and says its weights are random", async () => {
    // Act
    const a = buildTinyGguf();
    const b = buildTinyGguf();
    const other = buildTinyGguf({ seed: 2 });
    const written = writeTinyGguf(join(dir, "tiny.gguf"));
    const summary = await validateGguf(written.path);
    // Assess
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, other)).not.toBe(0);
    expect(a.length).toBeLessThan(1024 * 1024);
    expect(written.sha256).toBe(createHash("sha256").update(a).digest("hex"));
    expect(await sha256File(written.path)).toBe(written.sha256);
    expect(summary).toMatchObject({ version: 3, architecture: "llama", fileSize: a.length });
    expect(String(summary.metadata["general.description"])).toContain(TINY_MODEL_WARNING);
  });

  it("has a SentencePiece-style vocabulary with byte fallback and ChatML control tokens", () => {
    // Act
    const v = tinyVocabulary();
    // Assess
    expect(v.tokens.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
    expect(v.tokens.filter((t) => /^<0x[0-9A-F]{2}>$/.test(t))).toHaveLength(256);
    expect(v.tokens).toEqual(expect.arrayContaining(["<|im_start|>", "<|im_end|>", "▁hello", "▁world"]));
    expect(new Set(v.tokens).size).toBe(v.tokens.length);
    expect(v.scores).toHaveLength(v.tokens.length);
    expect(v.types).toHaveLength(v.tokens.length);
  });
});

describe("npm run model:tiny", () => {
  it("without a path writes under COCOON_HOME (where npm start looks for it), not the checkout's .cocoon", () => {
    // Regression: it always wrote ./.cocoon/models/tiny-random.gguf, whatever the network's home.
    // Prepare
    const home = join(tempDir("cocoon-model-tiny-"), "home");
    const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
    // Act
    const r = spawnSync(process.execPath, ["--import", "tsx", "agent/engines/tiny-gguf.ts"], {
      cwd: repoRoot,
      env: { ...process.env, COCOON_HOME: home },
      encoding: "utf8",
      timeout: 30_000,
    });
    // Assess
    const file = join(home, "models", "tiny-random.gguf");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${file} (`);
    expect(existsSync(file)).toBe(true);
  });
});

describe("npm run model:tiny's command line", () => {
  const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
  /** The script run in an empty folder (where a stray `./--help` would land), as npm passes `-- <args>`. */
  const runIn = (cwd: string, args: string[]) =>
    spawnSync(
      process.execPath,
      [
        "--import",
        pathToFileURL(join(repoRoot, "node_modules", "tsx", "dist", "loader.mjs")).href,
        join(repoRoot, "agent", "engines", "tiny-gguf.ts"),
        ...args,
      ],
      { cwd, env: { ...process.env, COCOON_HOME: join(cwd, "home") }, encoding: "utf8", timeout: 30_000 },
    );

  it("-- --help prints the usage and writes nothing (it wrote the 665 KB model to a file named ./--help)", () => {
    // Prepare
    const cwd = tempDir("cocoon-model-tiny-help-");
    // Act
    const r = runIn(cwd, ["--help"]);
    // Assess
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run model:tiny /);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it("an unknown flag is refused with the usage, exit 64, writing nothing", () => {
    // Prepare
    const cwd = tempDir("cocoon-model-tiny-bad-flag-");
    // Act
    const r = runIn(cwd, ["--force"]);
    // Assess
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/^error \[usage\]: Unknown option '--force'.*\nusage: npm run model:tiny /);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it("takes the output path as --out <path>, --out=<path> or one word; refuses a path starting with - and two paths", () => {
    // Act
    const taken = [["--out", "a.gguf"], ["--out=a.gguf"], ["a.gguf"], []].map((a) => parseTinyArgs(a));
    const refused = [["--", "-x.gguf"], ["--out", "-x"], ["--out="], ["a.gguf", "b.gguf"], ["--out", "a.gguf", "b.gguf"]].map((a) => {
      try {
        return parseTinyArgs(a);
      } catch (e) {
        return e instanceof TinyUsageError ? "refused" : e;
      }
    });
    // Assess
    expect(taken).toEqual([
      { help: false, out: "a.gguf" },
      { help: false, out: "a.gguf" },
      { help: false, out: "a.gguf" },
      { help: false },
    ]);
    expect(refused).toEqual(["refused", "refused", "refused", "refused", "refused"]);
  });
});

describe("validateGguf", () => {
  it("refuses a file cut anywhere, naming the truncation", async () => {
    // Prepare
    const good = buildTinyGguf();
    // Act
    const reasons = await Promise.all([10, 200, 5000, good.length - 100].map((len) => invalidReason(good.subarray(0, len))));
    // Assess
    for (const r of reasons) expect(r).toMatch(/truncated|too short/);
  });

  it("refuses garbage, other versions and hostile counts before reading on", async () => {
    // Act
    const garbage = await invalidReason(Buffer.alloc(4096, 0xab));
    const v9 = Buffer.from(buildTinyGguf());
    v9.writeUInt32LE(9, 4);
    const version = await invalidReason(v9);
    const tensors = await invalidReason(withU64(8, 1n << 40n));
    const kvs = await invalidReason(withU64(16, 1n << 40n));
    const keyLength = await invalidReason(withU64(24, 1n << 40n)); // length of the first metadata key
    // Assess
    expect(garbage).toMatch(/bad magic/);
    expect(version).toMatch(/unsupported GGUF version 9/);
    expect(tensors).toMatch(/tensor count .* is larger than/);
    expect(kvs).toMatch(/metadata count .* is larger than/);
    expect(keyLength).toMatch(/length .* is larger than/);
  });

  it("refuses tensors that point past the end of the file or use an unknown type", async () => {
    // Prepare: the last tensor info ends right before the aligned data section
    const good = Buffer.from(buildTinyGguf());
    const { dataOffset } = await validateGguf(aFile(good));
    const infoEnd = good.lastIndexOf(Buffer.from("blk.1.ffn_down.weight")) + "blk.1.ffn_down.weight".length;
    // name, n_dims (u32), 2 dims (u64), type (u32), offset (u64)
    const typeAt = infoEnd + 4 + 16;
    const offsetAt = typeAt + 4;
    expect(offsetAt + 8).toBeLessThanOrEqual(dataOffset);
    const pastEnd = Buffer.from(good);
    pastEnd.writeBigUInt64LE(BigInt(good.length), offsetAt);
    const badType = Buffer.from(good);
    badType.writeUInt32LE(4, typeAt); // Q4_2: removed from ggml
    // Act
    const past = await invalidReason(pastEnd);
    const type = await invalidReason(badType);
    // Assess
    expect(past).toMatch(/truncated: tensor blk\.1\.ffn_down\.weight ends at byte/);
    expect(type).toMatch(/unknown or removed ggml type 4/);
  });
});
