/**
 * Session 35's mutation run of client/serve/schemas.ts (SamplingPassedOn, ChatPassedOn, the
 * shared Metadata, extraFields with the passed-on fields): each of OpenAI's bounds at its edge,
 * with the message a refusal names, and which fields go on to the worker. The proxy's own suite
 * (passed-on.test.ts) sends one bad value per field through the openai client; these pin the
 * edges the schemas hold, in-process.
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { ChatBody, ChatPassedOn, CompletionBody, extraFields, ResponsesBody, SamplingPassedOn } from "./schemas";

const chat = (fields: Record<string, unknown>) => ({ model: "m", messages: [{ role: "user", content: "hi" }], ...fields });
const completion = (fields: Record<string, unknown>) => ({ model: "m", prompt: "Once upon", ...fields });
const responses = (fields: Record<string, unknown>) => ({ model: "m", input: "hi", ...fields });

/** "ok", or each issue as "path: message" (a record key's own messages, not zod's "Invalid key in record"). */
function verdict(schema: z.ZodType, body: unknown): string {
  const r = schema.safeParse(body);
  if (r.success) return "ok";
  return r.error.issues
    .map((i) => `${i.path.join(".")}: ${i.code === "invalid_key" ? i.issues.map((n) => n.message).join(", ") : i.message}`)
    .join("; ");
}

const keys = (n: number, len = 1) => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i).padStart(len, "k"), "v"]));

describe("SamplingPassedOn: penalties and logit_bias at OpenAI's bounds (chat and completions)", () => {
  it("penalties from -2 to 2 inclusive, or null; a step past either end is refused naming the field", () => {
    // Act / Assess
    for (const body of [chat, completion]) {
      for (const field of ["frequency_penalty", "presence_penalty"]) {
        expect([-2, 2, 0, null].map((v) => verdict(body === chat ? ChatBody : CompletionBody, body({ [field]: v })))).toEqual(
          Array(4).fill("ok"),
        );
        expect(verdict(body === chat ? ChatBody : CompletionBody, body({ [field]: -2.01 }))).toMatch(new RegExp(`^${field}: `));
        expect(verdict(body === chat ? ChatBody : CompletionBody, body({ [field]: 2.01 }))).toMatch(new RegExp(`^${field}: `));
      }
    }
  });

  it("logit_bias: token ids (digits only, the whole key) to values from -100 to 100; any other key is refused with its message", () => {
    // Prepare
    const message = "logit_bias: logit_bias keys must be token ids (integers, as strings)";
    // Act / Assess
    for (const [schema, body] of [
      [ChatBody, chat],
      [CompletionBody, completion],
    ] as const) {
      expect(verdict(schema, body({ logit_bias: { "0": -100, "50256": 100 } }))).toBe("ok");
      expect(verdict(schema, body({ logit_bias: {} }))).toBe("ok");
      expect(verdict(schema, body({ logit_bias: null }))).toBe("ok");
      for (const key of ["12a", "a12", "1.5", "-1", "", "Paris"])
        expect(verdict(schema, body({ logit_bias: { "7": 1, [key]: 1 } }))).toBe(message);
      expect(verdict(schema, body({ logit_bias: { "7": -101 } }))).toMatch(/^logit_bias\.7: /);
      expect(verdict(schema, body({ logit_bias: { "7": 101 } }))).toMatch(/^logit_bias\.7: /);
    }
  });
});

describe("ChatPassedOn: metadata, modalities, prediction (metadata also on /v1/responses)", () => {
  it("metadata: up to 16 keys, keys up to 64 characters, values up to 512; one more of any is refused naming it", () => {
    // Act / Assess
    for (const [schema, body] of [
      [ChatBody, chat],
      [ResponsesBody, responses],
    ] as const) {
      expect(verdict(schema, body({ metadata: keys(16) }))).toBe("ok");
      expect(verdict(schema, body({ metadata: { ["k".repeat(64)]: "v".repeat(512) } }))).toBe("ok");
      expect(verdict(schema, body({ metadata: null }))).toBe("ok");
      expect(verdict(schema, body({ metadata: keys(17) }))).toBe("metadata: metadata holds at most 16 keys");
      expect(verdict(schema, body({ metadata: { ["k".repeat(65)]: "v" } }))).toBe(
        `metadata.${"k".repeat(65)}: metadata keys are at most 64 characters`,
      );
      expect(verdict(schema, body({ metadata: { a: "v".repeat(513) } }))).toBe("metadata.a: metadata values are at most 512 characters");
    }
  });

  it("modalities text and audio (audio is refused by the route, not here); a prediction of content as text or at least one text part", () => {
    // Act / Assess
    expect(verdict(ChatBody, chat({ modalities: ["text", "audio"] }))).toBe("ok");
    expect(verdict(ChatBody, chat({ prediction: { type: "content", content: "Paris" } }))).toBe("ok");
    expect(verdict(ChatBody, chat({ prediction: { type: "content", content: [{ type: "text", text: "Paris" }] } }))).toBe("ok");
    expect(verdict(ChatBody, chat({ prediction: { type: "content", content: [] } }))).toMatch(/^prediction\.content: /);
  });
});

describe("extraFields: what goes on to the worker", () => {
  it("the passed-on fields go on as sent, with the fields no schema names; what the proxy acts on itself does not; nothing extra is undefined", () => {
    // Prepare
    const body = { ...chat({ temperature: 0.5, frequency_penalty: 1, metadata: { app: "x" } }), top_k: 40 };
    // Act
    const withPassedOn = extraFields(body, ChatBody, ChatPassedOn);
    const withoutPassedOn = extraFields(body, ChatBody);
    const completionExtra = extraFields(completion({ presence_penalty: -1, logit_bias: { "1": 5 } }), CompletionBody, SamplingPassedOn);
    const none = extraFields(chat({ temperature: 0.5 }), ChatBody, ChatPassedOn);
    // Assess
    expect(withPassedOn).toEqual({ frequency_penalty: 1, metadata: { app: "x" }, top_k: 40 });
    expect(withoutPassedOn).toEqual({ top_k: 40 });
    expect(completionExtra).toEqual({ presence_penalty: -1, logit_bias: { "1": 5 } });
    expect(none).toBeUndefined();
  });
});
