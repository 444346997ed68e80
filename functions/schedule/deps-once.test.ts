import { describe, expect, it } from "vitest";
import { depsOnce } from "./deps-once";

describe("depsOnce", () => {
  it("builds a factory's deps once across invocations", async () => {
    // Prepare
    let builds = 0;
    const get = depsOnce(async () => ({ n: ++builds }));
    // Act
    const [a, b] = [await get(), await get()];
    // Assess
    expect(builds).toBe(1);
    expect(b).toBe(a);
  });

  it("a failed build is tried again by the next invocation, then kept", async () => {
    // Prepare
    let builds = 0;
    const get = depsOnce(async () => {
      if (++builds === 1) throw new Error("environment refused");
      return { n: builds };
    });
    // Act
    const first = await get().catch((e: unknown) => e);
    const second = await get();
    const third = await get();
    // Assess
    expect((first as Error).message).toBe("environment refused");
    expect(second).toEqual({ n: 2 });
    expect(third).toBe(second);
    expect(builds).toBe(2);
  });

  it("deps given as they are come back as they are", async () => {
    const deps = { n: 1 };
    expect(await depsOnce(deps)()).toBe(deps);
  });
});
