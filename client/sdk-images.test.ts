/**
 * Images in the SDK (client/sdk.ts) and the sealed request's schema (events/envelope.ts): a user
 * message's content parts are sealed as given; an image URL the network does not take is refused
 * before anything is sent (remote_image_url, invalid_image_url, naming the part); each image holds
 * IMAGE_PROMPT_TOKENS prompt tokens, its base64 none; a request that would pass the envelope's
 * cap is refused (request_too_large) before any quote, and the bound it is refused by holds for
 * a real envelope sealed to eight workers.
 */
import { describe, expect, it } from "vitest";
import { sealRequest } from "../core/crypto/envelope";
import { b64u, canonicalJson } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { MAX_ENVELOPE_BYTES, RequestPlaintext, type EnvelopeHeader } from "../events/envelope";
import { IMAGE_PROMPT_TOKENS } from "../events/images";
import { AskInputError, type ChatMessage, promptTokenBound, requestPlaintextOf, sealedSizeBound } from "./sdk";

const MODEL = "vl-model";
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const GIF = `data:image/gif;base64,${Buffer.from("GIF89a\x01\x00\x01\x00", "latin1").toString("base64")}`;
const WEBP = `data:image/webp;base64,${Buffer.from("RIFF\x10\x00\x00\x00WEBPVP8 ", "latin1").toString("base64")}`;

/** A user message: `text`, then an image at each of `urls`. */
const userWith = (text: string, ...urls: string[]): ChatMessage => ({
  role: "user",
  content: [{ type: "text", text }, ...urls.map((url) => ({ type: "image_url" as const, image_url: { url } }))],
});

/** The AskInputError `act` throws. */
function inputError(act: () => unknown): AskInputError {
  try {
    act();
  } catch (e) {
    expect(e).toBeInstanceOf(AskInputError);
    return e as AskInputError;
  }
  throw new Error("nothing was thrown");
}

describe("requestPlaintextOf: images", () => {
  it("seals a user message's parts as given (png, gif, webp), which the agent's schema reads back", () => {
    // Prepare
    const messages = [userWith("what are these?", PNG, GIF, WEBP)];
    // Act
    const p = requestPlaintextOf({ model: MODEL, messages }, false);
    // Assess
    expect(p.messages).toEqual(messages);
    expect(RequestPlaintext.parse(JSON.parse(JSON.stringify(p))).messages![0]!.content).toEqual(messages[0]!.content);
  });

  it("refuses a remote image URL with remote_image_url, naming the part, before anything is sent", () => {
    // Act
    const e = inputError(() => requestPlaintextOf({ model: MODEL, messages: [userWith("hi", PNG, "https://example.com/a.png")] }, false));
    // Assess
    expect(e.code).toBe("remote_image_url");
    expect(e.param).toBe("messages.0.content.2");
    expect(e.message).toMatch(/reveal the request to that host/);
  });

  it.each([
    ["not strict base64", PNG.replace("iVBOR", "iVB R")],
    ["bytes of another type", PNG.replace("image/png", "image/webp")],
    ["not a data URL", "ftp://example.com/a.png"],
  ])("refuses an image URL that is %s with invalid_image_url", (_what, url) => {
    // Act
    const e = inputError(() => requestPlaintextOf({ model: MODEL, messages: [userWith("hi", url)] }, false));
    // Assess
    expect(e.code).toBe("invalid_image_url");
    expect(e.param).toBe("messages.0.content.1");
  });

  it("refuses an image in a message that is not the user's (as OpenAI's API)", () => {
    // Act
    const e = inputError(() =>
      requestPlaintextOf(
        { model: MODEL, messages: [{ role: "system", content: [{ type: "image_url", image_url: { url: PNG } }] }] },
        false,
      ),
    );
    // Assess
    expect(e.code).toBe("invalid_request");
    expect(e.message).toMatch(/only user messages may hold images/);
  });

  it("refuses a request past the envelope's cap with request_too_large, and takes one just under it", () => {
    // Prepare: an image of `n` bytes after the PNG signature
    const image = (n: number) =>
      `data:image/png;base64,${Buffer.concat([Buffer.from(PNG.split(",")[1]!, "base64"), Buffer.alloc(n, 1)]).toString("base64")}`;
    // Act
    const e = inputError(() => requestPlaintextOf({ model: MODEL, messages: [userWith("hi", image(150_000))] }, false));
    const fits = requestPlaintextOf({ model: MODEL, messages: [userWith("hi", image(100_000))] }, false);
    // Assess
    expect(e.code).toBe("request_too_large");
    expect(e.param).toBe("messages");
    expect(fits.messages).toHaveLength(1);
  });
});

describe("promptTokenBound: images", () => {
  it("counts IMAGE_PROMPT_TOKENS an image and the text parts' bytes, not the images' base64", () => {
    // Prepare
    const text = promptTokenBound([{ role: "user", content: "hi" }]);
    // Act
    const withImages = promptTokenBound([userWith("hi", PNG, PNG)]);
    // Assess
    expect(withImages).toBe(text + 2 * IMAGE_PROMPT_TOKENS);
  });
});

describe("sealedSizeBound", () => {
  it("is never below a real envelope's size, sealed to eight workers with the longest model name and largest limits", () => {
    // Prepare
    const plaintext = new TextEncoder().encode(JSON.stringify(requestPlaintextOf({ model: "m", messages: [userWith("hi", PNG)] }, true)));
    const header: EnvelopeHeader = {
      v: 1,
      jobId: "job_01m8imagesssssssssssssss0",
      requester: generateSigningKey().id,
      model: "m".repeat(128),
      maxTokens: 32_768,
      maxPromptTokens: 262_144,
      maxCost: "9".repeat(30),
      replyKey: b64u.encode(generateKemKey().publicKey),
    };
    const recipients = Array.from({ length: 8 }, () => ({ workerId: generateSigningKey().id, hpkePublicKey: generateKemKey().publicKey }));
    // Act
    const sealed = canonicalJson(sealRequest({ header, plaintext, recipients })).length;
    // Assess
    expect(sealed).toBeLessThanOrEqual(sealedSizeBound(plaintext.length));
    expect(sealedSizeBound(plaintext.length) - sealed).toBeLessThan(4096);
    expect(sealedSizeBound(0)).toBeLessThan(MAX_ENVELOPE_BYTES);
  });
});
