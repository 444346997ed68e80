/**
 * Where a CLI finds the API (api-client/settings.ts cliSettings): a URL given by flag or by
 * COCOON_API_URL that is not http(s) is refused by name (invalid_api_url), which the CLIs print
 * as one error line with exit 2, instead of a TypeError's stack trace when the request is signed.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { main } from "../client/cli";
import { runCli } from "./cli-testing";
import { cliSettings, DEFAULT_API_URL, SettingsError } from "./settings";

describe("cliSettings: the API URL", () => {
  const saved = { home: process.env.COCOON_HOME, api: process.env.COCOON_API_URL };
  beforeEach(() => {
    process.env.COCOON_HOME = tempDir("cocoon-settings-");
    delete process.env.COCOON_API_URL;
  });
  afterEach(() => {
    for (const [k, v] of [
      ["COCOON_HOME", saved.home],
      ["COCOON_API_URL", saved.api],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  const refusal = (f: () => unknown): SettingsError => {
    try {
      f();
    } catch (e) {
      return e as SettingsError;
    }
    throw new Error("not refused");
  };

  it("http(s) URLs are taken as given, from the flag first, then COCOON_API_URL, then the default", () => {
    expect(cliSettings({ api: "https://api.example/v", defaultKeyName: "k" }).apiUrl).toBe("https://api.example/v");
    process.env.COCOON_API_URL = "http://127.0.0.1:9000";
    expect(cliSettings({ defaultKeyName: "k" }).apiUrl).toBe("http://127.0.0.1:9000");
    delete process.env.COCOON_API_URL;
    expect(cliSettings({ defaultKeyName: "k" }).apiUrl).toBe(DEFAULT_API_URL);
  });

  it.each(["notaurl", "ftp://x", "127.0.0.1:8787", ""])("--api %j: invalid_api_url naming the flag", (bad) => {
    // Act
    const e = refusal(() => cliSettings({ api: bad, defaultKeyName: "k" }));
    // Assess
    expect(e).toBeInstanceOf(SettingsError);
    expect(e.code).toBe("invalid_api_url");
    expect(e.message).toMatch(new RegExp(`^--api "${bad.replace(/[.]/g, "\\.")}" is not an http\\(s\\) URL`));
  });

  it("COCOON_API_URL that is not a URL: invalid_api_url naming the variable", () => {
    // Prepare
    process.env.COCOON_API_URL = "nope";
    // Act
    const e = refusal(() => cliSettings({ defaultKeyName: "k" }));
    // Assess
    expect([e.code, e.message.split(" is ")[0]]).toEqual(["invalid_api_url", 'COCOON_API_URL "nope"']);
  });

  it("cocoon operator status / balance --api notaurl: one error line, exit 2 (--json: the error object), no stack trace", async () => {
    // Act
    const status = await runCli(main, ["operator", "status", "--api", "notaurl", "--key", join(process.env.COCOON_HOME!, "none.key")]);
    const balance = await runCli(main, ["balance", "--api", "notaurl", "--json"]);
    // Assess
    expect(status.code).toBe(2);
    expect(status.err.trim()).toMatch(/^error \[invalid_api_url\]: --api "notaurl" is not an http\(s\) URL/);
    expect(balance.code).toBe(2);
    expect(JSON.parse(balance.err)).toMatchObject({ error: { code: "invalid_api_url" } });
  });
});
