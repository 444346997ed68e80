import { Address } from "@ton/core";

/**
 * One TON address in any of its forms (raw, friendly bounceable or not, test-only or not); text
 * that is no address only equals itself. Its own module: @ton/core is heavy, and the SDK loads it
 * only when it withdraws.
 */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return Address.parse(a).equals(Address.parse(b));
  } catch {
    return false;
  }
}
