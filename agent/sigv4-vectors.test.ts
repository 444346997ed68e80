/**
 * The agent's SigV4 (agent/relay-iot.ts) on AWS's published Signature Version 4 test suite:
 * test/fixtures/sigv4 (its README names the sources, commits and licence, and the suite's
 * vectors left out and why). Each vector's canonical request, string to sign, signature and
 * Authorization header must be the published ones byte for byte.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { signV4, sigV4Parts } from "./relay-iot";

const FIXTURES = fileURLToPath(new URL("../test/fixtures/sigv4/", import.meta.url));
const read = (path: string) => readFileSync(`${FIXTURES}${path}`, "utf8");
const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** The suite's own credentials, date and scope (every vector of both copies uses them). */
const SUITE = {
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  amzDate: "20150830T123600Z",
  region: "us-east-1",
  service: "service",
};
/** get-vanilla-with-session-token's token: the vector gives it to the signer, not in its request. */
const VANILLA_SESSION_TOKEN = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";

/**
 * A request as the suite writes it: `METHOD target HTTP/1.1`, headers (a line that starts with
 * whitespace folds into the header above), a blank line, the body (a file may end in a newline).
 * The target's path is the one the signer encodes (raw, e.g. get-utf8's "/ሴ"); its query is
 * decoded here since the signer encodes it. A repeated header or query key is refused: our signer
 * takes one value per name.
 */
function parseRequest(text: string) {
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? "" : text.slice(blank + 2);
  const [requestLine = "", ...lines] = head.split("\n");
  const m = /^(\S+) (.+) HTTP\/1\.1$/.exec(requestLine);
  if (!m) throw new Error(`not a request line: ${requestLine}`);
  const [, method = "", target = ""] = m;
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const query: Record<string, string> = {};
  for (const pair of q < 0 ? [] : target.slice(q + 1).split("&")) {
    const eq = pair.indexOf("=");
    const [k, v] = eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    const key = decodeURIComponent(k);
    if (key in query) throw new Error(`query key ${key} repeated`);
    query[key] = decodeURIComponent(v);
  }
  const fields: Array<[string, string]> = [];
  for (const line of lines.filter((l) => l !== "")) {
    const last = fields[fields.length - 1];
    if (/^\s/.test(line) && last) last[1] += `\n${line}`;
    else fields.push([line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (Object.keys(headers).some((n) => n.toLowerCase() === name.toLowerCase())) throw new Error(`header ${name} repeated`);
    headers[name] = value;
  }
  return { method, path, query, headers, body };
}

const authorizationOf = (signedRequest: string) => /^Authorization:(.*)$/m.exec(signedRequest)?.[1];

/** The published suite (aws-sig-v4-test-suite, as botocore keeps it): every vector our signer supports. */
const PUBLISHED = [
  "get-vanilla",
  "get-vanilla-query",
  "get-vanilla-empty-query-key",
  "get-vanilla-query-order-key-case",
  "get-vanilla-query-order-encoded",
  "get-vanilla-query-unreserved",
  "get-vanilla-utf8-query",
  "get-unreserved",
  "get-utf8",
  "get-header-value-trim",
  "get-header-value-multiline",
  "get-vanilla-with-session-token",
  "post-vanilla",
  "post-vanilla-query",
  "post-vanilla-empty-query-value",
  "post-header-key-case",
  "post-header-key-sort",
  "post-header-value-case",
  "post-x-www-form-urlencoded",
  "post-x-www-form-urlencoded-parameters",
  "normalize-path/get-space",
  "normalize-path/get-special-character",
  "post-sts-token/post-sts-header-before",
];

describe("SigV4 on AWS's published test suite (aws4_testsuite)", () => {
  it.each(PUBLISHED)("%s: canonical request, string to sign, signature and Authorization are the published ones", (vector) => {
    // Prepare
    const file = (ext: string) => read(`aws4_testsuite/${vector}/${vector.split("/").pop()!}.${ext}`);
    const request = parseRequest(file("req"));
    // the token goes in as signV4 puts it: a signed header, like post-sts-header-before's
    const headers =
      vector === "get-vanilla-with-session-token" ? { ...request.headers, "x-amz-security-token": VANILLA_SESSION_TOKEN } : request.headers;
    // Act
    const parts = sigV4Parts({
      ...SUITE,
      method: request.method,
      path: request.path,
      query: request.query,
      headers,
      payloadHash: sha256Hex(request.body),
    });
    // Assess
    expect(parts.canonicalRequest).toBe(file("creq"));
    expect(parts.stringToSign).toBe(file("sts"));
    expect(parts.authorization).toBe(file("authz"));
    expect(parts.signature).toBe(/Signature=([0-9a-f]{64})$/.exec(file("authz"))?.[1]);
  });
});

/**
 * aws-c-auth's copy of the suite adds vectors signed with x-amz-content-sha256 ("sign_body"), the
 * header our signer always signs: these run through signV4 itself, the publisher's entry point
 * (its clock, body hash and header set), not only the pure parts.
 */
const SIGNED_BODY = ["post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters"];

describe("signV4 end to end on aws-c-auth's signed-body vectors (x-amz-content-sha256, as the publisher signs)", () => {
  it.each(SIGNED_BODY)("%s: signV4 sends the published Authorization; its parts are the published ones", (vector) => {
    // Prepare
    const file = (name: string) => read(`aws-c-auth/v4/${vector}/${name}`);
    const context = JSON.parse(file("context.json")) as {
      credentials: { access_key_id: string; secret_access_key: string; token?: string };
      region: string;
      service: string;
      sign_body: boolean;
      timestamp: string;
    };
    const { method, path, query, headers, body } = parseRequest(file("request.txt"));
    const { Host: host = "", ...further } = headers;
    // Act
    const signed = signV4({
      method,
      host,
      path,
      query,
      body,
      headers: further,
      region: context.region,
      service: context.service,
      credentials: { accessKeyId: context.credentials.access_key_id, secretAccessKey: context.credentials.secret_access_key },
      now: new Date(context.timestamp),
    });
    const { authorization, ...sent } = signed.headers;
    const parts = sigV4Parts({
      ...SUITE,
      method,
      path,
      query,
      headers: sent,
      payloadHash: sent["x-amz-content-sha256"]!,
      amzDate: sent["x-amz-date"]!,
    });
    // Assess
    expect(context.sign_body).toBe(true);
    expect(context.credentials.token).toBeUndefined();
    expect(authorization).toBe(authorizationOf(file("header-signed-request.txt")));
    expect(parts.canonicalRequest).toBe(file("header-canonical-request.txt"));
    expect(parts.stringToSign).toBe(file("header-string-to-sign.txt"));
    expect(parts.signature).toBe(file("header-signature.txt"));
    expect(signed.url).toBe(`https://${host}/`);
  });
});
