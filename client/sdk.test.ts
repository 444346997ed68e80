import { describe, expect, it } from "vitest";
import { openRequest, sealRequest } from "../core/crypto/envelope";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { makeHeader } from "../core/crypto/testing";
import { RequestPlaintext } from "../events/envelope";
import { AskInputError, type ChatMessage, promptTokenBound, requestPlaintextOf } from "./sdk";
import { completedJob, refusal, USAGE } from "./sdk-testing";

/** The code of the VerificationError `f` throws, or "accepted". */
const verificationCode = (f: () => unknown): string => refusal(f).code;

describe("issue 9 #12: the SDK checks the receipt's measurement and recomputes the bill", () => {
  it("an honest completed job passes and yields the sealed answer", () => {
    // Prepare
    const { check, honest } = completedJob();
    // Act
    const answer = check();
    // Assess
    expect(answer).toMatchObject({ text: "hello", usage: USAGE });
    expect(honest).toBe(3_700n); // ceil(100 × (12 × 2500 + 34 × 10000) / 10000)
  });

  it("issue 9 #12: a receipt naming another measurement than the one the worker attested is refused", () => {
    // Prepare: the worker signs a receipt for another image; the coordinator passes it on
    const { check } = completedJob({ receipt: { measurement: "00".repeat(48) } });
    // Act / Assess
    expect(verificationCode(check)).toBe("measurement_mismatch");
  });

  it("issue 9 #12: a bill above the cost of the receipt's usage at the quoted price is refused, even inside the hold", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest + 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("a bill above the hold is refused (as before)", () => {
    // Prepare
    const { check } = completedJob({ cost: () => 100_001n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("issue 9 #12: a bill that does not follow the receipt (usage/cost mismatch) is refused", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest - 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("cost_mismatch");
  });

  it("a receipt billing other usage than the sealed reply reports is refused", () => {
    // Prepare
    const { check } = completedJob({ usageInReply: { promptTokens: 12, completionTokens: 3 } });
    // Act / Assess
    expect(verificationCode(check)).toBe("usage_mismatch");
  });
});

describe("a chat message's name (OpenAI's participant name) is sealed with it", () => {
  /** Factory + Act: `messages` as the SDK seals them, opened and parsed as the agent does. */
  function sealedAndOpened(messages: ChatMessage[]) {
    const worker = { id: generateSigningKey().id, kem: generateKemKey() };
    const header = makeHeader({
      jobId: "job_01m8rep1ysizeeeeeeeeeeeee0",
      model: "m",
      maxTokens: 16,
      maxPromptTokens: 256,
      maxCost: "1000000",
    });
    const plaintext = requestPlaintextOf({ model: "m", messages }, false);
    const envelope = sealRequest({
      header,
      plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
      recipients: [{ workerId: worker.id, hpkePublicKey: worker.kem.publicKey }],
    });
    const opened = openRequest(envelope, { workerId: worker.id, kem: worker.kem });
    return RequestPlaintext.parse(JSON.parse(new TextDecoder().decode(opened)));
  }

  it("the agent opens each message with the name it was given, and no name key where none was given", () => {
    // Prepare: an AutoGen group chat
    const messages: ChatMessage[] = [
      { role: "system", content: "Debate.", name: "chair" },
      { role: "user", content: "Tabs or spaces?" },
      { role: "assistant", content: "Tabs.", name: "alice" },
      { role: "assistant", content: "Spaces.", name: "bob" },
    ];
    // Act
    const opened = sealedAndOpened(messages);
    // Assess
    expect(opened.messages).toStrictEqual(messages);
  });

  it("refuses a name outside OpenAI's rule before anything is sent, naming messages.i.name", () => {
    // Act
    const err = (() => {
      try {
        requestPlaintextOf({ model: "m", messages: [{ role: "user", content: "hi", name: "Alice Smith" }] }, false);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    // Assess
    expect(err).toBeInstanceOf(AskInputError);
    expect(err).toMatchObject({ param: "messages.0.name", message: expect.stringMatching(/name must be 1 to 64/) });
  });

  it("counts a name's bytes in the prompt's token bound (a chat template may write it)", () => {
    // Act
    const unnamed = promptTokenBound([{ role: "user", content: "hi" }]);
    const named = promptTokenBound([{ role: "user", content: "hi", name: "n".repeat(64) }]);
    // Assess
    expect(named - unnamed).toBe(64);
  });
});
