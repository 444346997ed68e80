import { accessSync, constants, statSync } from "node:fs";

/**
 * Why a GGUF model file cannot be served (there is none, it is not a regular file, this user may
 * not read it), or undefined when it can be read: checked before anything starts, by the agent's
 * start (agent/cli.ts) and by npm start (local/main.ts).
 */
export function modelFileProblem(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile() ? undefined : "it is not a regular file";
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "there is no such file" : (e as Error).message;
  }
}
