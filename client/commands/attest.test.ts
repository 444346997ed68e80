import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { SAMPLE_COLLATERAL_TEXT, SAMPLE_QUOTE, flip } from "../../test/fixtures/attestation/helpers";
import { attestVerifyCommand } from "./attest";

const dir = tempDir("attest-cli-");
function file(name: string, data: string | Uint8Array) {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}
function io() {
  const o = { out: "", err: "" };
  return { o, io: { out: { write: (s: string) => (o.out += s) }, err: { write: (s: string) => (o.err += s) } } };
}
const QUOTE = file("quote.bin", SAMPLE_QUOTE);
const COLLATERAL = file("collateral.json", SAMPLE_COLLATERAL_TEXT);
const MRTD = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";

describe("cocoon attest verify", () => {
  it("genuine quote with collateral: exit 0, --json verdict and lower-case measurements", async () => {
    const { o, io: x } = io();
    const rc = await attestVerifyCommand([QUOTE, "--collateral", COLLATERAL, "--at", "2025-06-25T00:00:00Z", "--json"], x);
    expect(rc).toBe(0);
    const j = JSON.parse(o.out);
    expect(j).toMatchObject({ verdict: "genuine", status: "UpToDate", code: "ok", mrtd: MRTD, rtmr3: "0".repeat(96) });
    for (const k of ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "reportData"]) expect(j[k]).toMatch(/^[0-9a-f]+$/);
  });

  it("hex quote file (with 0x and line breaks) is accepted", async () => {
    const hexText =
      "0x" +
      Buffer.from(SAMPLE_QUOTE)
        .toString("hex")
        .replace(/(.{128})/g, "$1\n");
    const { o, io: x } = io();
    expect(
      await attestVerifyCommand([file("quote.hex", hexText), "--collateral", COLLATERAL, "--at", "2025-06-25T00:00:00Z", "--json"], x),
    ).toBe(0);
    expect(JSON.parse(o.out).mrtd).toBe(MRTD);
  });

  it("without collateral: status Unknown, still exit 0 (signatures and chain checked)", async () => {
    const { o, io: x } = io();
    expect(await attestVerifyCommand([QUOTE, "--at", "2025-06-25T00:00:00Z"], x)).toBe(0);
    expect(o.out).toContain("TCB status Unknown");
    expect(o.out).toContain(`MRTD        ${MRTD}`);
  });

  it("tampered quote: non-zero exit with the reason", async () => {
    const { o, io: x } = io();
    const rc = await attestVerifyCommand(
      [file("bad.bin", flip(SAMPLE_QUOTE, 300)), "--collateral", COLLATERAL, "--at", "2025-06-25T00:00:00Z", "--json"],
      x,
    );
    expect(rc).toBe(1);
    expect(JSON.parse(o.out)).toMatchObject({ verdict: "invalid", code: "quote_signature_invalid", mrtd: null });
    const h = io();
    expect(await attestVerifyCommand([join(dir, "bad.bin")], h.io)).toBe(1);
    expect(h.o.err).toContain("INVALID quote (quote_signature_invalid)");
  });

  it("expired collateral: genuine (exit 0) with status CollateralExpired", async () => {
    const { o, io: x } = io();
    expect(await attestVerifyCommand([QUOTE, "--collateral", COLLATERAL, "--at", "2026-01-01T00:00:00Z", "--json"], x)).toBe(0);
    expect(JSON.parse(o.out)).toMatchObject({ verdict: "genuine", status: "CollateralExpired", code: "collateral_expired" });
  });

  it("usage errors: 64; unreadable files: 66", async () => {
    expect(await attestVerifyCommand([], io().io)).toBe(64);
    expect(await attestVerifyCommand([QUOTE, "--at", "yesterday"], io().io)).toBe(64);
    expect(await attestVerifyCommand([join(dir, "missing.bin")], io().io)).toBe(66);
    expect(await attestVerifyCommand([QUOTE, "--collateral", QUOTE], io().io)).toBe(66);
  });

  it("unreadable files under --json: one JSON error line with its code on stderr (exit 66), a code in the text too", async () => {
    // Prepare
    const quote = io();
    const collateral = io();
    const text = io();
    // Act
    const rcQuote = await attestVerifyCommand([join(dir, "missing.bin"), "--json"], quote.io);
    const rcCollateral = await attestVerifyCommand([QUOTE, "--collateral", QUOTE, "--json"], collateral.io);
    const rcText = await attestVerifyCommand([join(dir, "missing.bin")], text.io);
    // Assess
    expect([rcQuote, rcCollateral, rcText]).toEqual([66, 66, 66]);
    expect(quote.o.out).toBe("");
    expect(JSON.parse(quote.o.err)).toMatchObject({ error: { code: "unreadable_quote", message: expect.stringContaining("missing.bin") } });
    expect(JSON.parse(collateral.o.err)).toMatchObject({ error: { code: "unreadable_collateral" } });
    expect(text.o.err).toMatch(/^error \[unreadable_quote\]: cannot read quote file .*missing\.bin/);
  });
});
