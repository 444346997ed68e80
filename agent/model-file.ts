import { closeSync, openSync, readSync, statSync } from "node:fs";
import { validateGguf } from "./engines/gguf";

/** The first four bytes of every GGUF file. */
const GGUF_MAGIC = "GGUF";

/**
 * Why a GGUF model file cannot be served (there is none, it is not a regular file, this user may
 * not read it, it is no GGUF file at all), or undefined when it can be read: checked before
 * anything starts, by the agent's init (a warning) and start (agent/cli.ts) and by npm start
 * (local/main.ts). A file that is not GGUF (a safetensors download, an HTML error page saved
 * under the model's name) used to pass here and fail the load as model_invalid, exit 1, which the
 * systemd unit restarted every 15 s until its start limit; the rest of the header is the engine's
 * to check (agent/engines/gguf.ts).
 */
export function modelFileProblem(file: string): string | undefined {
  try {
    // a file this user may not read fails hasGgufMagic's open with EACCES: no separate access check
    if (!statSync(file).isFile()) return "it is not a regular file";
    return hasGgufMagic(file) ? undefined : `it is not a GGUF model file (it does not begin with "${GGUF_MAGIC}")`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "there is no such file" : (e as Error).message;
  }
}

function hasGgufMagic(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(GGUF_MAGIC.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString("latin1") === GGUF_MAGIC;
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a GGUF file that modelFileProblem passed cannot be loaded as it is (its structure, checked
 * without native code by agent/engines/gguf.ts: most often a download cut short, "truncated:
 * tensor … ends at byte …"), or undefined when it is whole. It used to pass start's checks and
 * fail the load as model_invalid, exit 1, after the worker key was made, which the unit restarted
 * every 15 s until its start limit with no word of what to do (walking the README, session 38).
 */
export async function modelFileDamage(file: string): Promise<string | undefined> {
  try {
    await validateGguf(file);
    return undefined;
  } catch (e) {
    return `${(e as Error).message}: the file is damaged or incomplete (a download that did not finish?); download it again and compare its SHA-256 with the publisher's`;
  }
}
