/**
 * review41: the request's `extra` was passed to the engine on a deny-list, so what it did not name
 * reached vLLM or llama-server: a requester's chat_template or grammar (an engine that hangs or
 * computes far more than it bills), prompt_logprobs, guided decoding, n_probs (log probabilities
 * past the capability check), lora. Now an allow-list (events/engine-extra.ts): a job with another
 * name fails bad_request before the engine runs, and the adapter never sends one even when handed it.
 */
import { describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../../core/crypto/keys";
import { executeJob } from "../execute";
import { executeContext, freshStats, openableJob, recordingApi } from "../job-testing";
import { aRequest } from "./engine-testing";
import { createOpenAiEngine } from "./openai-http";

const BASE = "http://127.0.0.1:9/v1";

/** Factory: a server answering every POST whole; it records each body. */
function server() {
  const bodies: Array<Record<string, unknown>> = [];
  const fetchImpl = (async (_url: string | URL | Request, init?: RequestInit) => {
    bodies.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
    const answer = {
      choices: [{ index: 0, message: { role: "assistant", content: "ok" }, text: "ok", finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    };
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return { fetchImpl, bodies };
}

const UNSAFE = {
  chat_template: "{% for i in range(99999999) %}x{% endfor %}",
  chat_template_kwargs: { documents: ["x"] },
  prompt_logprobs: 20,
  guided_regex: "(a|a)*b",
  structured_outputs: { grammar: "root ::= x" },
  grammar: "root ::= x*",
  n_probs: 20,
  lora: [{ id: 0, scale: 1 }],
};

describe("review41: only the allowed engine parameters of extra reach the engine", () => {
  it("the adapter sends the allowed ones as given and none of the others, chat or text completion", async () => {
    // Prepare
    const s = server();
    const engine = createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl });
    const extra = { ...UNSAFE, top_k: 5, min_p: 0.1 };
    // Act
    await engine.generate(aRequest({ extra }));
    await engine.complete!({ model: "m", prompt: "p", maxTokens: 8, extra });
    // Assess
    expect(s.bodies).toHaveLength(2);
    for (const b of s.bodies) {
      expect(b).toMatchObject({ top_k: 5, min_p: 0.1 });
      for (const name of Object.keys(UNSAFE)) expect(b).not.toHaveProperty(name);
    }
  });

  it.each(Object.entries(UNSAFE))("a job whose extra holds %s fails bad_request, and the engine is never asked", async (name, value) => {
    // Prepare
    const s = server();
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const plaintext = { messages: [{ role: "user", content: "hi" }], extra: { top_k: 5, [name]: value } };
    const { job } = openableJob(signingKey.id, kemKey, 60_000, plaintext);
    const { api, results } = recordingApi();
    const stats = freshStats();
    // Act
    await executeJob(
      executeContext({ signingKey, kemKey }, api, createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl }), { stats }),
      job,
    );
    // Assess
    expect(results.map((r) => (r.kind === "failed" ? r.code : r.kind))).toEqual(["bad_request"]);
    expect(s.bodies).toHaveLength(0);
    expect(stats.completionTokens).toBe(0);
  });
});
