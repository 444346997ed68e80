/**
 * isLoopbackUrl: the client's one test of "this machine" (receipts verify kept a twin that took
 * only 127.0.0.1 of 127.0.0.0/8, and this one threw on a URL that does not parse).
 */
import { describe, expect, it } from "vitest";
import { isLoopbackUrl } from "./api";

describe("isLoopbackUrl", () => {
  it.each([
    "http://127.0.0.1:8787",
    "http://127.0.0.2",
    "http://127.255.255.254/x",
    "http://127.1:8787",
    "http://localhost:8787/",
    "http://[::1]:8787",
  ])("%s is loopback", (url) => {
    expect(isLoopbackUrl(url)).toBe(true);
  });

  it.each([
    "https://api.cocoon.example",
    "http://128.0.0.1",
    "http://127.example.com",
    "http://10.0.0.5:8787",
    "http://[::2]",
    "not a url",
    "",
  ])("%s is not", (url) => {
    expect(isLoopbackUrl(url)).toBe(false);
  });
});
