import { describe, expect, it } from "vitest";
import { progressOn } from "./progress";

const sink = (isTTY: boolean) => {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } };
};

describe("progress on long waits", () => {
  it("not a terminal: one plain line per step, no control characters", () => {
    const s = sink(false);
    const p = progressOn(s.stream);
    p.step("waiting for the chain watcher");
    p.step("waiting for the chain watcher");
    p.step("checking the receipt");
    p.done();
    expect(s.writes).toEqual(["waiting for the chain watcher\n", "checking the receipt\n"]);
  });

  it("a terminal: the step is drawn in place with the seconds waited, and wiped when done", () => {
    let now = 1_000;
    const s = sink(true);
    const p = progressOn(s.stream, { now: () => now });
    p.step("waiting for the answer");
    now += 3_200;
    p.step("waiting for the answer");
    p.done();
    // eslint-disable-next-line no-control-regex -- the ANSI escape is what the progress line writes
    expect(s.writes[0]).toMatch(/^\r\x1b\[2K. waiting for the answer 0s$/);
    // eslint-disable-next-line no-control-regex -- the ANSI escape is what the progress line writes
    expect(s.writes[1]).toMatch(/^\r\x1b\[2K. waiting for the answer 3s$/);
    expect(s.writes.at(-1)).toBe("\r\x1b[2K");
  });

  it("quiet (--json): nothing at all", () => {
    const s = sink(true);
    const p = progressOn(s.stream, { quiet: true });
    p.step("x");
    p.done();
    expect(s.writes).toEqual([]);
  });
});
