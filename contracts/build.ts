/**
 * Compiles contracts/vault.tact with the Tact compiler API into contracts/build/
 * (`npm run contracts:build`). vault.tact holds the vault and its two child contracts, so one
 * build writes build/Vault_Vault.*, build/Vault_AccountWallet.* and build/Vault_PayoutWallet.*
 * (the vault's code embeds the children's). The generated wrappers, the code BOCs and
 * build/manifest.json are committed, so tests and the local chain never compile:
 * build/manifest.json records the sha256 of the source it was built from and
 * contracts/vault.test.ts fails when the source changed without a rebuild.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, createVirtualFileSystem, stdLibFiles } from "@tact-lang/compiler";
import { createNodeFileSystem } from "@tact-lang/compiler/dist/vfs/createNodeFileSystem";

const here = dirname(fileURLToPath(import.meta.url));

export const SOURCES = ["vault.tact"] as const;

/** The contracts vault.tact defines, each with its own wrapper build/Vault_<name>.ts. */
export const VAULT_CONTRACTS = ["Vault", "AccountWallet", "PayoutWallet"] as const;

/**
 * Further contracts, each built from its own source into build/<name>_<name>.* with its own
 * manifest, so build/manifest.json keeps hashing the vault's sources alone. Their tests check
 * their manifest the same way. `tsx contracts/build.ts ReceiptAnchor` builds only the named ones.
 */
export const EXTRA_CONTRACTS = [
  { name: "ReceiptAnchor", path: "anchor.tact", manifest: "manifest-anchor.json" },
  { name: "PolicyRegistry", path: "registry.tact", manifest: "manifest-registry.json" },
] as const;

export async function buildExtraContract(c: (typeof EXTRA_CONTRACTS)[number]): Promise<void> {
  const outDir = join(here, "build");
  const started = Date.now();
  const res = await build({
    config: {
      name: c.name,
      path: c.path,
      output: "build",
      options: { debug: false, external: false, ipfsAbiGetter: false, interfacesGetter: false },
      mode: "full",
    },
    project: createNodeFileSystem(here, false),
    stdlib: createVirtualFileSystem("@stdlib", stdLibFiles),
  });
  if (!res.ok) throw new Error(`tact build of ${c.path} failed: ${res.error.map((e) => e.message).join("\n")}`);
  const code = readFileSync(join(outDir, `${c.name}_${c.name}.code.boc`));
  const manifest = {
    compiler: "@tact-lang/compiler@1.6.13",
    sourceSha256: createHash("sha256")
      .update(readFileSync(join(here, c.path)))
      .digest("hex"),
    codeSha256: createHash("sha256").update(code).digest("hex"),
  };
  writeFileSync(join(outDir, c.manifest), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`built ${c.name} in ${Date.now() - started} ms → contracts/build/`);
}

export function sourceHash(): string {
  const h = createHash("sha256");
  for (const s of SOURCES) h.update(readFileSync(join(here, s)));
  return h.digest("hex");
}

export async function buildContracts(): Promise<void> {
  const outDir = join(here, "build");
  mkdirSync(outDir, { recursive: true });
  const project = createNodeFileSystem(here, false);
  const stdlib = createVirtualFileSystem("@stdlib", stdLibFiles);
  const started = Date.now();
  const res = await build({
    config: {
      name: "Vault",
      path: "vault.tact",
      output: "build",
      options: { debug: false, external: false, ipfsAbiGetter: false, interfacesGetter: false },
      mode: "full",
    },
    project,
    stdlib,
  });
  if (!res.ok) {
    throw new Error(`tact build failed: ${res.error.map((e) => e.message).join("\n")}`);
  }
  const codeSha = (name: string) =>
    createHash("sha256")
      .update(readFileSync(join(outDir, `Vault_${name}.code.boc`)))
      .digest("hex");
  const manifest = {
    compiler: "@tact-lang/compiler@1.6.13",
    sourceSha256: sourceHash(),
    codeSha256: codeSha("Vault"),
    children: Object.fromEntries(VAULT_CONTRACTS.filter((n) => n !== "Vault").map((n) => [n, codeSha(n)])),
  };
  writeFileSync(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`built ${VAULT_CONTRACTS.join(", ")} in ${Date.now() - started} ms → contracts/build/`);
}

export async function buildAll(): Promise<void> {
  await buildContracts();
  for (const c of EXTRA_CONTRACTS) await buildExtraContract(c);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // `tsx contracts/build.ts Vault ReceiptAnchor` builds only the named ones; no argument builds everything.
  const args = process.argv.slice(2);
  const only = EXTRA_CONTRACTS.filter((c) => args.includes(c.name));
  const run = args.length
    ? only.reduce((p, c) => p.then(() => buildExtraContract(c)), args.includes("Vault") ? buildContracts() : Promise.resolve())
    : buildAll();
  run.catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
