import { z } from "zod";
import { unsupported } from "./errors";
import type { Tool, ToolCall } from "./types";

/**
 * OpenAI's custom tools (type "custom"): a tool whose input is free-form text rather than JSON
 * arguments. The network's engines call functions only, so a custom tool of the plain-text format
 * travels as a function of one string argument, `input`, and a call of it comes back as a custom
 * tool call carrying that string. A grammar format (lark, regex) constrains the text the model may
 * write; no engine here can enforce one, so it is refused rather than ignored.
 */

/** A custom tool's input format, as both APIs give it: text, or a grammar (read far enough to refuse it). */
export const CustomFormatSchema = z.discriminatedUnion(
  "type",
  [z.object({ type: z.literal("text") }).loose(), z.object({ type: z.literal("grammar") }).loose()],
  { error: 'format.type must be "text" or "grammar"' },
);

/** The JSON Schema of the one argument a custom tool is called with. */
export const CUSTOM_INPUT_PARAMETERS = {
  type: "object",
  properties: { input: { type: "string", description: "The tool's whole input, as free-form text." } },
  required: ["input"],
  additionalProperties: false,
} as const;

/** A custom tool as the engine is given it; a grammar format is a 400 naming `formatParam`. */
export function customAsFunction(
  t: { name: string; description?: string | null | undefined; format?: z.infer<typeof CustomFormatSchema> | null | undefined },
  formatParam: string,
): Tool {
  if (t.format?.type === "grammar")
    throw unsupported(
      formatParam,
      `${formatParam}: custom tools with a grammar format are not supported: Cocoon's engines cannot constrain the text to a grammar; use format {"type":"text"} or a function tool`,
    );
  return {
    type: "function",
    function: {
      name: t.name,
      ...(t.description != null ? { description: t.description } : {}),
      parameters: structuredClone(CUSTOM_INPUT_PARAMETERS) as unknown as Record<string, unknown>,
    },
  };
}

/** A custom tool call the app sends back (an earlier turn) as the engine's function call. */
export const customCall = (id: string, name: string, input: string): ToolCall => ({
  id,
  type: "function",
  function: { name, arguments: JSON.stringify({ input }) },
});

/** The one-string object cut before its end: its string's text so far (a cut escape left out), or the string whole and the object cut. */
const CUT_INPUT = /^\s*\{\s*"input"\s*:\s*"((?:[^"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*)(?:\\(?:u[0-9a-fA-F]{0,3})?|"\s*)?$/;

/**
 * The text a custom tool was called with: the `input` the model wrote. A call the budget cut
 * (`{"input":"print(1` …) gives the text as far as it was written, as OpenAI answers a cut custom
 * call; arguments of any other form (a model that ignored the schema) are given as written: that
 * is what was generated, and an app must not be handed less.
 */
export function customInputOf(args: string): string {
  try {
    const parsed: unknown = JSON.parse(args);
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { input?: unknown }).input === "string")
      return (parsed as { input: string }).input;
  } catch {
    // not whole JSON: maybe the object cut inside its string
    const cut = CUT_INPUT.exec(args);
    if (cut) return stringOf(cut[1]!) ?? args;
  }
  return args;
}

/** A JSON string's body as its text; undefined where JSON would not take it (a raw control character). */
function stringOf(body: string): string | undefined {
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return undefined;
  }
}
