import { modelNotFound, OpenAiError } from "./errors";
import type { ListedModel, ModelInfo } from "./types";

/**
 * Model aliases of `cocoon serve` (--model-alias gpt-4o-mini=qwen2-7b): apps that hard-code
 * OpenAI's model names (gpt-4o-mini, text-embedding-3-small, LangChain's and LlamaIndex's
 * defaults) are served by a Cocoon model without a change to their code. An alias names one
 * network model; it is resolved once (an alias of an alias is refused, so what serves a name is
 * plain from the command line), and it wins over a network model of the same name.
 */

export class ModelAliasError extends Error {
  override readonly name = "ModelAliasError";
  constructor(
    readonly code: "malformed_model_alias" | "duplicate_model_alias" | "chained_model_alias",
    message: string,
  ) {
    super(message);
  }
}

/** Model names as the network and OpenAI write them: no whitespace, no "=" (the pair's separator). */
const NAME = /^[^\s=]+$/;

/** "alias=target" → [alias, target]; anything else is a ModelAliasError saying what is expected. */
export function parseModelAlias(pair: string): [alias: string, target: string] {
  const at = pair.indexOf("=");
  const alias = pair.slice(0, at);
  const target = pair.slice(at + 1);
  if (at < 0 || !NAME.test(alias) || !NAME.test(target))
    throw new ModelAliasError(
      "malformed_model_alias",
      `"${pair}" is not <openai-name>=<cocoon-model> (two model names joined by one "=", e.g. gpt-4o-mini=qwen2-7b)`,
    );
  return [alias, target];
}

/**
 * `table` with alias → target added: an alias defined twice, or one whose target is an alias
 * (or that is the target of another), is refused rather than silently resolved one way or the other.
 */
export function addModelAlias(table: ReadonlyMap<string, string>, alias: string, target: string): Map<string, string> {
  const before = table.get(alias);
  if (before !== undefined)
    throw new ModelAliasError("duplicate_model_alias", `the model alias "${alias}" is defined twice (=${before} and =${target})`);
  if (table.has(target) || alias === target)
    throw new ModelAliasError(
      "chained_model_alias",
      alias === target
        ? `the model alias "${alias}" names itself: name a Cocoon model`
        : `the model alias "${alias}" names "${target}", which is itself an alias: name the Cocoon model directly`,
    );
  const taken = [...table].find(([, t]) => t === alias);
  if (taken)
    throw new ModelAliasError(
      "chained_model_alias",
      `the model alias "${alias}" is the Cocoon model that "${taken[0]}" names: an alias cannot hide the model another alias serves`,
    );
  return new Map(table).set(alias, target);
}

/** A whole table, checked as addModelAlias checks each entry. */
export function modelAliasTable(aliases: Readonly<Record<string, string>>): Map<string, string> {
  return Object.entries(aliases).reduce<Map<string, string>>((t, [alias, target]) => {
    parseModelAlias(`${alias}=${target}`);
    return addModelAlias(t, alias, target);
  }, new Map());
}

/** "gpt-4o-mini → qwen2-7b, …": the table as the startup line lists it. */
export const describeAliases = (table: ReadonlyMap<string, string>) => [...table].map(([a, t]) => `${a} → ${t}`).join(", ");

interface Models {
  model(id: string): Promise<ModelInfo | undefined>;
  all(): Promise<ModelInfo[]>;
}

/**
 * The model catalog as the routes see it with `table` applied: `target` is the network's name of
 * the model a request names (what the job asks for), `model` that model's entry (its capabilities
 * are checked), `all` the list with each alias listed beside its target (aliases win over a
 * network model of the same name). An alias whose target has no live worker is not listed and is
 * a 404 that names both, so the user sees which --model-alias to fix.
 */
export function aliasedModels(catalog: Models, table: ReadonlyMap<string, string>) {
  return {
    target: (id: string) => table.get(id) ?? id,
    async model(id: string): Promise<ModelInfo | undefined> {
      const target = table.get(id);
      if (target === undefined) return catalog.model(id);
      return catalog.model(target).catch((err: unknown) => {
        if (err instanceof OpenAiError && err.code === "model_not_found") throw aliasTargetNotFound(id, target);
        throw err;
      });
    },
    async all(): Promise<ListedModel[]> {
      const models = await catalog.all();
      const byId = new Map(models.map((m) => [m.id, m]));
      const aliases = [...table].flatMap(([alias, target]) => {
        const m = byId.get(target);
        return m ? [{ ...m, id: alias, aliasOf: target }] : [];
      });
      return [...models.filter((m) => !table.has(m.id)), ...aliases];
    },
  };
}

function aliasTargetNotFound(alias: string, target: string): OpenAiError {
  const e = modelNotFound(alias);
  return new OpenAiError(
    e.status,
    e.type,
    e.code,
    `The model \`${alias}\` is an alias (cocoon serve --model-alias) of \`${target}\`, which no Cocoon worker offers right now (see GET /v1/models).`,
    { param: e.param },
  );
}
