import { describe, expect, it } from "vitest";
import { RequestPlaintext } from "./envelope";

/** The sealed plaintext of a chat with `messages`, parsed as the agent parses it. */
const parse = (messages: unknown[]) => RequestPlaintext.safeParse({ kind: "chat", messages });

describe("RequestPlaintext: a chat message's name (OpenAI's participant name)", () => {
  it("keeps a name on system, user and assistant turns; a message without one parses as before, with no name key", () => {
    // Prepare: an AutoGen group chat, two speakers of the assistant role, and an unnamed user turn
    const messages = [
      { role: "system", content: "You chair the debate.", name: "chair" },
      { role: "user", content: "Topic: tabs or spaces?" },
      { role: "assistant", content: "Tabs.", name: "Alice_1" },
      { role: "assistant", content: "Spaces.", name: "bob-2" },
    ];
    // Act
    const r = parse(messages);
    // Assess
    expect(r.success).toBe(true);
    expect(r.data?.messages).toStrictEqual(messages);
    expect(Object.keys(r.data!.messages![1]!)).toEqual(["role", "content"]);
  });

  it("takes a name of exactly 64 characters", () => {
    expect(parse([{ role: "user", content: "hi", name: "n".repeat(64) }]).data?.messages?.[0]?.name).toBe("n".repeat(64));
  });

  it.each([
    ["a space", "Alice Smith"],
    ["65 characters", "n".repeat(65)],
    ["nothing", ""],
    ["a dot", "a.b"],
    ["a non-ASCII letter", "Zoë"],
  ])("refuses a name with %s, naming messages.i.name", (_what, name) => {
    // Act
    const r = parse([
      { role: "system", content: "s" },
      { role: "user", content: "hi", name },
    ]);
    // Assess
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ["messages", 1, "name"], message: expect.stringMatching(/name must be 1 to 64/) });
  });

  it("refuses a name on a tool turn (OpenAI's tool message has none)", () => {
    // Act
    const r = parse([
      { role: "user", content: "weather?" },
      { role: "assistant", content: "", toolCalls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", content: "sunny", toolCallId: "c1", name: "f" },
    ]);
    // Assess
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({
      path: ["messages", 2, "name"],
      message: expect.stringMatching(/tool message takes no name/),
    });
  });
});
