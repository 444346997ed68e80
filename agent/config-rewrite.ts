/**
 * What `cocoon-agent init --force` keeps of the config file it rewrites. It used to write the
 * file from its own flags and the defaults alone, so an owner changing one setting
 * (`init --force --payout-address EQ…`, as `start`'s own warning told them to) silently put every
 * other one back to its default: the API URL to the local network, the engine to the builtin echo,
 * the tier to tdx, the metrics port to the one another agent on the machine holds. Now the old
 * file's settings stay unless this init gives them (flag or COCOON_* variable), except those that
 * belong to the engine being replaced, and every change is listed.
 */
import { resolve } from "node:path";
import { type AgentConfigInput, type FlagValues, SETTINGS } from "./config";

type Key = keyof AgentConfigInput;
type Settings = Partial<Record<Key, unknown>>;

/** Which engine the settings serve: change one of these and the engine is another. */
const ENGINE_IDENTITY: readonly Key[] = ["engine", "engineUrl", "modelFile"];

/**
 * What the old engine's server was, not this machine's: a model name the new engine may not
 * serve, an API key meant for another server (never sent to a new one unasked), what that server
 * could do.
 */
const ENGINE_BOUND: readonly Key[] = ["models", "engineKey", "engineLogprobs", "engineVision"];

/** Settings whose values are secrets: a change is named, never its value. */
const SECRET: ReadonlySet<Key> = new Set(["engineKey", "tonApiKey"]);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What this init sets, by setting: its COCOON_* variables, then its flags (an empty list is not
 * given), as resolveConfig reads them: a path made absolute, a number or a list from text. A text
 * that is no number stays text (resolveConfig refuses it, naming the flag).
 */
export function givenSettings(flags: FlagValues, env: NodeJS.ProcessEnv): Settings {
  const given: Settings = {};
  const take = (k: Key, v: string | string[] | number) => {
    const kind = SETTINGS[k].kind;
    given[k] =
      typeof v !== "string"
        ? v
        : kind === "path"
          ? resolve(v)
          : kind === "int" && /^\d+$/.test(v.trim())
            ? Number(v.trim())
            : kind === "list"
              ? v
                  .split(",")
                  .map((x) => x.trim())
                  .filter(Boolean)
              : v;
  };
  for (const k of Object.keys(SETTINGS) as Key[]) {
    const v = env[SETTINGS[k].env];
    if (v !== undefined && v !== "") take(k, v);
  }
  for (const [k, v] of Object.entries(flags) as Array<[Key, string | string[] | number | undefined]>)
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) take(k, v);
  return given;
}

/**
 * The old file's settings `init --force` keeps, given what this init sets (`given`: its flags and
 * COCOON_* variables, by setting). A given setting is not kept; a new model file drops an engine
 * other than llama (so the file picks llama), and another engine drops the model file; a new
 * engine (engine, engineUrl or modelFile changed) drops the old one's ENGINE_BOUND settings.
 * `dropped` names the old engine's ENGINE_BOUND settings so left out.
 */
export function keptSettings(old: Settings, given: Settings): { kept: Settings; dropped: Key[] } {
  const isGiven = (k: Key) => given[k] !== undefined;
  const newEngine = ENGINE_IDENTITY.some((k) => isGiven(k) && !same(given[k], old[k]));
  const kept: Settings = {};
  const dropped: Key[] = [];
  for (const [k, v] of Object.entries(old) as Array<[Key, unknown]>) {
    if (v === undefined || isGiven(k)) continue;
    // the engine and the model file follow each other (their change is listed as a change)
    if ((k === "engine" && isGiven("modelFile") && v !== "llama") || (k === "modelFile" && isGiven("engine") && given.engine !== "llama"))
      continue;
    if (newEngine && ENGINE_BOUND.includes(k)) dropped.push(k);
    else kept[k] = v;
  }
  return { kept, dropped };
}

/**
 * The settings that differ between the old file and the new one, as an owner reads them
 * ("metricsPort 9464 → 9471"; a secret as "engineKey (changed)"); [] when none.
 */
export function settingChanges(old: Settings, now: Settings): string[] {
  const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])] as Key[];
  const show = (v: unknown) => (v === undefined ? "(unset)" : Array.isArray(v) && !v.length ? "(none)" : JSON.stringify(v));
  return keys
    .filter((k) => !same(old[k], now[k]))
    .map((k) => (SECRET.has(k) ? `${k} (${now[k] === undefined ? "removed" : "changed"})` : `${k} ${show(old[k])} → ${show(now[k])}`));
}
