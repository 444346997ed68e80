import type { EngineCompletionRequest, EngineEmbedRequest, EngineRequest } from "./engines/engine";

/**
 * The most prompt the engine may have been asked to prefill while a call waited for an answer
 * (its own and every other call's under way or started meanwhile, in UTF-8 bytes) for that call's
 * timeout to be read as a hung engine rather than a busy one (agent42). A token is at least a
 * byte, so this is at most 16k tokens: seconds of prefill on any GPU engine (1,000 tokens/s is a
 * slow one), far from the adapter's 120 s. Past it, a timeout may be a requester's huge prompts
 * on a slow card, which three jobs in a row took off every list before.
 */
export const LIGHT_PROMPT_BYTES = 16 * 1024;

/**
 * What a call asks of the engine's prefill, in UTF-8 bytes: a chat's messages and tools as JSON
 * (their framing and an image's base64 counted too: an over-count errs towards "busy", never
 * "hung"), a completion's prompt, embedding inputs (a token id a byte each, as it is one token).
 */
export function promptBytes(req: EngineRequest | EngineCompletionRequest | EngineEmbedRequest): number {
  if ("messages" in req)
    return Buffer.byteLength(JSON.stringify(req.messages)) + (req.tools ? Buffer.byteLength(JSON.stringify(req.tools)) : 0);
  if ("prompt" in req) return Buffer.byteLength(req.prompt);
  return req.input.reduce<number>((n, x) => n + (typeof x === "string" ? Buffer.byteLength(x) : x.length), 0);
}

/** One engine call as EngineWork follows it. */
export interface EngineCall {
  /** the engine produced something (a stream's event) */
  output(): void;
  /** the call is over, whatever its end */
  end(): void;
  /**
   * Whether this call's timeout reads as a hung engine: nothing came from the engine for any call
   * since it started, and all it was asked to prefill meanwhile was light (LIGHT_PROMPT_BYTES).
   */
  readsAsHung(): boolean;
}

/**
 * The engine's calls under way and what they asked of it, which tells a hung engine from a busy
 * one when a call times out (agent42). `timeoutsBeforeDown` timeouts in a row took the worker off
 * every list whatever its probe said (an engine whose HTTP layer answers while its generation is
 * stuck: llama-server's /health), so a requester sending three jobs with huge prompts to a slow
 * card, or long generations at capacity ahead of a job that then waited at the engine, took it
 * off. Only a timeout that no such work explains counts toward that run now: a hung engine
 * produces nothing for anyone, and times out light prompts too; the rest are judged by the probe
 * alone (a probe that fails with no other call under way takes the worker down).
 */
export class EngineWork {
  /** calls under way */
  running = 0;
  /** prompt bytes of the calls under way */
  private pending = 0;
  /** prompt bytes of every call so far */
  private asked = 0;
  /** answers and stream events of every call so far */
  private outputs = 0;

  begin(bytes: number): EngineCall {
    const at = { pending: this.pending, asked: this.asked, outputs: this.outputs };
    this.running++;
    this.pending += bytes;
    this.asked += bytes;
    let ended = false;
    return {
      output: () => void this.outputs++,
      end: () => {
        if (ended) return;
        ended = true;
        this.running--;
        this.pending -= bytes;
      },
      // what was under way when it began, and everything asked since (its own prompt included)
      readsAsHung: () => this.outputs === at.outputs && at.pending + (this.asked - at.asked) <= LIGHT_PROMPT_BYTES,
    };
  }
}
