/**
 * ton-cells.ts crc16 (the user-friendly address checksum) and the address forms against published
 * values, not only against @ton/core (which could share a mistake):
 * - the catalogue check value, CRC-16/XMODEM("123456789") = 0x31C3 (CRC RevEng catalogue; as
 *   akhilles/crc-catalog src/algorithm.rs CRC_16_XMODEM quotes it);
 * - the address in the TON Cookbook (ton-community/ton-docs docs/v3/guidelines/dapps/cookbook.mdx,
 *   commit 208dbec392dba6052a26e740b4112fcccc88f543): raw 0:ca6e321c…2a3e and its five
 *   user-friendly forms (bounceable, not url-safe, non-bounceable, testnet, non-bounceable testnet);
 * - a masterchain address: the elector contract, -1:3333…3333 (config parameter 1), whose
 *   user-friendly form Ef8zMzMz…M0vF explorers, toncenter and TON libraries print (e.g.
 *   tonkeeper/tongo's tests), so the workchain byte -1 (0xff) is checked too.
 */
import { describe, expect, it } from "vitest";
import { crc16, friendlyAddress, parseTonAddress, rawAddress, TonAddressError } from "./ton-cells";

const RAW = "0:ca6e321c7cce9ecedf0a8ca2492ec8592494aa5fb5ce0387dff96ef6af982a3e";
const FORMS = [
  ["bounceable, url-safe (the default)", {}, "EQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPrHF"],
  ["bounceable, not url-safe", { urlSafe: false }, "EQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff+W72r5gqPrHF"],
  ["non-bounceable", { bounceable: false }, "UQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPuwA"],
  ["testnet", { testOnly: true }, "kQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPgpP"],
  ["non-bounceable, testnet", { bounceable: false, testOnly: true }, "0QDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPleK"],
] as const;

describe("crc16 on published vectors", () => {
  it('check value: CRC-16/XMODEM("123456789") = 0x31C3, high byte first as an address stores it', () => {
    expect(crc16(Buffer.from("123456789", "ascii")).toString("hex")).toBe("31c3");
  });

  it("the empty input: 0", () => {
    expect(crc16(Buffer.alloc(0)).toString("hex")).toBe("0000");
  });
});

describe("published addresses (the TON Cookbook's, the elector's)", () => {
  it.each(FORMS)("raw -> %s", (_name, options, friendly) => {
    // Act
    const out = friendlyAddress(parseTonAddress(RAW), options);
    // Assess
    expect(out).toBe(friendly);
  });

  it.each(FORMS)("%s -> raw", (_name, _options, friendly) => {
    // Act
    const parsed = parseTonAddress(friendly);
    // Assess
    expect(rawAddress(parsed)).toBe(RAW);
  });

  it("the elector's masterchain address: raw <-> user-friendly", () => {
    // Prepare
    const raw = `-1:${"33".repeat(32)}`;
    const friendly = "Ef8zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM0vF";
    // Act / Assess
    expect(friendlyAddress(parseTonAddress(raw))).toBe(friendly);
    expect(rawAddress(parseTonAddress(friendly))).toBe(raw);
  });

  it("its checksum is the CRC-16/XMODEM of the first 34 bytes", () => {
    // Prepare
    const data = Buffer.from(FORMS[0][2].replace(/-/g, "+").replace(/_/g, "/"), "base64");
    // Act / Assess
    expect(crc16(data.subarray(0, 34)).equals(data.subarray(34))).toBe(true);
  });

  it("one changed checksum character is refused", () => {
    expect(() => parseTonAddress("EQDKbjIcfM6ezt8KjKJJLshZJJSqX7XOA4ff-W72r5gqPrHG")).toThrow(TonAddressError);
  });
});
