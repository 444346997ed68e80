/**
 * Images in chat messages (OpenAI's image_url content parts, events/envelope.ts ContentPart): the
 * rules the SDK, cocoon serve and the agent check them by, and what they are held for. Apart from
 * envelope.ts because the coordinator never opens a request: its functions need none of this.
 */

/**
 * Images a chat message may carry: only inline `data:` URLs of these types, never a remote URL.
 * A worker that fetched an http(s) URL would tell that host the request is being served (and
 * when, from where), and it would need network egress from its confidential VM; the image travels
 * sealed inside the envelope instead, so it is capped with it (MAX_ENVELOPE_BYTES).
 */
export const IMAGE_TYPES = ["png", "jpeg", "webp", "gif"] as const;

/**
 * The prompt tokens held for each image (client/sdk.ts promptTokenBound; agent/execute.ts
 * promptFloor asks at least this of the hold). An image's token count is known only to the
 * engine that reads it (its vision encoder and how it tiles or resizes); 4096 covers the common
 * open vision models at their usual settings: Gemma 3 256 a picture, LLaVA-1.5 576, LLaVA-NeXT
 * up to 2,880, InternVL 12 tiles ≈ 3,300, Llama 4 and Pixtral (1024²) about 4,100, Qwen2.5-VL up
 * to ~3.2 megapixels (one token each 28×28). A larger image on a model that counts more is billed
 * at the hold (the worker is told, in its log): never above what the requester agreed to pay.
 */
export const IMAGE_PROMPT_TOKENS = 4096;

/** Why an image part's URL is refused (machine-readable `code`), or undefined when it is a well-formed data URL. */
export function imageUrlProblem(url: string): { code: "remote_image_url" | "invalid_image_url"; message: string } | undefined {
  if (/^https?:/i.test(url))
    return {
      code: "remote_image_url",
      message:
        "remote image URLs are not supported: send the image inline as a data:image/(png|jpeg|webp|gif);base64 URL " +
        "(a worker fetching it would reveal the request to that host, and its confidential VM has no network egress)",
    };
  const m = /^data:image\/(png|jpeg|webp|gif);base64,/.exec(url);
  if (!m) return { code: "invalid_image_url", message: "an image must be a data:image/(png|jpeg|webp|gif);base64,… URL" };
  const data = url.slice(m[0].length);
  // Strict: the base64 alphabet with its padding only at the end, and bytes that encode back to
  // the same text (Node's decoder skips what it cannot read, and an engine's may not).
  const bytes = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(data) ? Buffer.from(data, "base64") : undefined;
  if (!bytes || bytes.length === 0 || bytes.toString("base64") !== data)
    return { code: "invalid_image_url", message: "the image's data URL is not strict base64" };
  if (!MAGIC[m[1] as (typeof IMAGE_TYPES)[number]](bytes))
    return { code: "invalid_image_url", message: `the image's bytes are not a ${m[1]} image (its data URL says image/${m[1]})` };
  return undefined;
}

/** Each type's leading bytes: an image labelled as another type is refused here rather than by the engine, after the hold. */
const MAGIC: Record<(typeof IMAGE_TYPES)[number], (b: Buffer) => boolean> = {
  png: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  jpeg: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  gif: (b) => /^GIF8[79]a$/.test(b.subarray(0, 6).toString("latin1")),
  webp: (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
};

/** The text of a message's content: its text parts joined (what a text-only engine reads). */
export const contentText = (content: string | ReadonlyArray<{ type: string; text?: string }>): string =>
  typeof content === "string" ? content : content.map((p) => (p.type === "text" ? (p.text ?? "") : "")).join("");

/** How many images a message's content holds. */
export const imageCount = (content: string | ReadonlyArray<{ type: string }>): number =>
  typeof content === "string" ? 0 : content.filter((p) => p.type === "image_url").length;

/**
 * The first image part among `messages` whose URL imageUrlProblem refuses, with the part's path
 * (`messages.<i>.content.<j>`), or undefined: the one walk the SDK (before sealing) and the agent
 * (after opening) both make. Takes unchecked input: a part without a string URL is a problem too.
 */
export function firstImageProblem(
  messages: ReadonlyArray<{ content: string | ReadonlyArray<{ type?: string; image_url?: { url?: unknown } }> }> | undefined,
): { path: string; code: "remote_image_url" | "invalid_image_url"; message: string } | undefined {
  for (const [i, m] of (messages ?? []).entries()) {
    if (typeof m.content === "string") continue;
    for (const [j, part] of m.content.entries()) {
      if (part?.type !== "image_url") continue;
      const problem = imageUrlProblem(typeof part.image_url?.url === "string" ? part.image_url.url : "");
      if (problem) return { path: `messages.${i}.content.${j}`, ...problem };
    }
  }
  return undefined;
}
