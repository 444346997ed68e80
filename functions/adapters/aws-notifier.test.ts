import { describe, expect, it } from "vitest";
import { LambdaNotifier } from "./aws-notifier";

describe("LambdaNotifier", () => {
  it("wait sleeps at most 250 ms so the handler re-reads the store; notify does nothing", async () => {
    const slept: number[] = [];
    const n = new LambdaNotifier(async (ms) => {
      slept.push(ms);
    });
    n.notify("job:1");
    await n.wait("job:1", 20_000);
    await n.wait("job:1", 100);
    await n.wait("job:1", 0);
    expect(slept).toEqual([250, 100]);
  });
});
