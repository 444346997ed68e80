import { z } from "zod";

/**
 * review41: the engine parameters a sealed request's `extra` may carry (RequestPlaintext.extra,
 * events/envelope.ts), an allow-list. `extra` goes to the worker's engine under its own names
 * (agent/engines/openai-http.ts), and engines read far more than sampling there: vLLM's
 * chat_template, chat_template_kwargs, prompt_logprobs and guided_* / structured_outputs,
 * llama-server's grammar, lora and n_probs. A requester's chat template or grammar can make an
 * engine hang or compute far more than the tokens it bills, n_probs returns log probabilities past
 * the capability check, and a name the next engine release adds is unknown today. So only what is
 * listed here passes: sampling that changes which tokens are picked, never how many are computed
 * per billed token, and OpenAI's own fields that `cocoon serve` passes on (engines ignore or bound
 * them). Everything else is refused by the one schema the SDK checks before a quote and the agent
 * parses a job with (a job with one fails bad_request, naming it), and the adapter never sends it.
 *
 * A null is the field not given, as OpenAI reads it; values are checked for their type only (the
 * engine bounds them, and refuses a bad one with a 4xx: engine_rejected).
 */
export const EXTRA_PARAMS = /* @__PURE__ */ (() => {
  const num = z.number().finite().nullable();
  const int = z.number().int().nullable();
  const bool = z.boolean().nullable();
  const ints = z.array(z.number().int()).max(4096).nullable();
  const strings = z.array(z.string()).max(1024).nullable();

  return {
    // OpenAI's sampling fields the network does not name itself
    frequency_penalty: num,
    presence_penalty: num,
    // {token id: bias} (OpenAI, vLLM), or llama-server's [[token or text, bias or false]]
    logit_bias: z
      .union([z.record(z.string(), z.union([z.number(), z.boolean()])), z.array(z.array(z.unknown()).max(2)).max(4096)])
      .nullable(),
    // samplers vLLM, SGLang and llama-server share
    top_k: int,
    min_p: num,
    typical_p: num,
    repetition_penalty: num,
    // billed: tokens it makes the engine generate are completion tokens within max_tokens
    min_tokens: int,
    ignore_eos: bool,
    stop_token_ids: ints,
    bad_words: strings,
    allowed_token_ids: ints,
    skip_special_tokens: bool,
    include_stop_str_in_output: bool,
    // llama-server's samplers
    repeat_penalty: num,
    repeat_last_n: int,
    penalize_nl: bool,
    mirostat: int,
    mirostat_tau: num,
    mirostat_eta: num,
    dynatemp_range: num,
    dynatemp_exponent: num,
    top_n_sigma: num,
    xtc_probability: num,
    xtc_threshold: num,
    dry_multiplier: num,
    dry_base: num,
    dry_allowed_length: int,
    dry_penalty_last_n: int,
    dry_sequence_breakers: strings,
    min_keep: int,
    // the host's own chat template's thinking switch (Qwen3, DeepSeek…), and nothing else of its
    // variables: the thoughts are completion tokens, billed; a template of the requester's is refused
    chat_template_kwargs: z.strictObject({ enable_thinking: z.boolean().optional(), thinking: z.boolean().optional() }).nullable(),
    // OpenAI's own fields, passed on by cocoon serve (client/serve/schemas.ts ChatPassedOn checks them)
    reasoning_effort: z.string().nullable(),
    verbosity: z.string().nullable(),
    service_tier: z.string().nullable(),
    metadata: z.record(z.string(), z.string()).nullable(),
    store: bool,
    prompt_cache_key: z.string().nullable(),
    safety_identifier: z.string().nullable(),
    modalities: strings,
    prediction: z.object({ type: z.string() }).loose().nullable(),
  } satisfies z.ZodRawShape;
})();

export const EXTRA_PARAM_NAMES: readonly string[] = /* @__PURE__ */ (() => Object.keys(EXTRA_PARAMS))();

/** Whether `name` may travel in a request's `extra`. */
export const isExtraParam = (name: string): boolean => Object.hasOwn(EXTRA_PARAMS, name);

/**
 * The fields of `extra` that may reach an engine: allowed names whose values are of their type
 * (chat_template_kwargs holds the thinking switch only). Where a request is built for an engine,
 * for a caller that did not parse it with EngineExtra (which refuses the rest).
 */
export function passableExtra(extra: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(extra ?? {}).filter(
      ([name, value]) => isExtraParam(name) && EXTRA_PARAMS[name as keyof typeof EXTRA_PARAMS].safeParse(value).success,
    ),
  );
}

/** Why a field of `extra` named `name` is refused (the caller names where it was). */
export const extraRefusal = (name: string): string =>
  `${name} is not an engine parameter this network passes on (a chat template, grammar or guided decoding, ` +
  `prompt log probabilities, adapters and the like could make a worker compute what it cannot bill); ` +
  `allowed: ${EXTRA_PARAM_NAMES.join(", ")}`;

/**
 * A request's `extra`: names on the allow-list only, each of its type. Each refusal's path is the
 * field's name (under `extra` in RequestPlaintext), so the SDK's AskInputError and the agent's
 * bad_request both name it.
 */
export const EngineExtra = /* @__PURE__ */ (() =>
  z.record(z.string().max(256), z.unknown()).superRefine((extra, ctx) => {
    for (const [name, value] of Object.entries(extra)) {
      if (!isExtraParam(name)) {
        ctx.addIssue({ code: "custom", path: [name], message: extraRefusal(name) });
        continue;
      }
      const checked = EXTRA_PARAMS[name as keyof typeof EXTRA_PARAMS].safeParse(value);
      if (!checked.success)
        ctx.addIssue({ code: "custom", path: [name], message: `${name}: ${checked.error.issues[0]?.message ?? "not a value it takes"}` });
    }
  }))();
