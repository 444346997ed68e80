/**
 * Where a CLI finds the API and its key: flags first, then the environment, then the local
 * network's `.cocoon/local.json` (written by `npm start`), then the defaults. Shared by
 * `cocoon` and `cocoon-agent`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalNetworkFile } from "../events/local";
import { isLoopbackUrl } from "./api";

export const DEFAULT_API_URL = "http://127.0.0.1:8787";

/** A setting, or the key file it names, that a CLI cannot use; `code` says which (bad_settings, no_key, key_file_…). */
export class SettingsError extends Error {
  override readonly name = "SettingsError";
  constructor(
    message: string,
    readonly code: string = "bad_settings",
  ) {
    super(message);
  }
}

export interface CliSettings {
  /** COCOON_HOME or ./.cocoon */
  home: string;
  apiUrl: string;
  /** the local network's file, when there is one */
  local: LocalNetworkFile | undefined;
  keyFile: string;
}

export function cliSettings(o: {
  api?: string | undefined;
  key?: string | undefined;
  keyEnv?: string | undefined;
  defaultKeyName: string;
}): CliSettings {
  const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
  const local = readLocalNetworkFile(join(home, "local.json"));
  const apiUrl =
    o.api !== undefined
      ? httpUrl(o.api, "--api")
      : process.env.COCOON_API_URL !== undefined
        ? httpUrl(process.env.COCOON_API_URL, "COCOON_API_URL")
        : (local?.apiUrl ?? DEFAULT_API_URL);
  return { home, local, apiUrl, keyFile: o.key ?? o.keyEnv ?? join(home, o.defaultKeyName) };
}

/**
 * The API URL as typed, refused by name unless it is an http(s) URL: anything else failed later
 * as a TypeError's stack trace (new URL, when the request was signed for its host) or as a fetch error.
 */
function httpUrl(url: string, from: string): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (u?.protocol !== "http:" && u?.protocol !== "https:")
    throw new SettingsError(
      `${from} "${url}" is not an http(s) URL: give the coordinator's API, e.g. ${DEFAULT_API_URL} (the local network) or a deployment's ApiUrl`,
      "invalid_api_url",
    );
  return url;
}

/** `.cocoon/local.json`, parsed with its schema (another process wrote it); absent → undefined. */
export function readLocalNetworkFile(path: string): LocalNetworkFile | undefined {
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new SettingsError(`${path} is not JSON (${(e as Error).message}); delete it or start the local network again (npm start)`);
  }
  const r = LocalNetworkFile.safeParse(json);
  if (!r.success)
    throw new SettingsError(
      `${path} is malformed (${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}); delete it or start the local network again (npm start)`,
    );
  return r.data;
}

/**
 * Whether two API URLs name the same API: `--api http://localhost:8787/` is the local network's
 * http://127.0.0.1:8787 (a trailing slash, and any loopback name for the same port). Compared as
 * strings, a local network typed another way lost its dev opt-in (client/cli.ts connect).
 */
export function sameApiUrl(a: string, b: string): boolean {
  const norm = (s: string) => {
    const u = new URL(s);
    return `${u.protocol}//${isLoopbackUrl(s) ? "loopback" : u.hostname}:${u.port}${u.pathname.replace(/\/+$/, "")}`;
  };
  try {
    return norm(a) === norm(b);
  } catch {
    return false;
  }
}
