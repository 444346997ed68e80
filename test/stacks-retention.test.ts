/**
 * COCOON_JOB_RETENTION_DAYS at deploy (stacks/Cocoon.ts): checked by the rule the functions apply
 * at their cold start (functions/config.ts), so a bad value refuses the deploy by name instead of
 * failing every function that ends a job.
 */
import { describe, expect, it } from "vitest";
import { checkDeployerEnv } from "../stacks/Cocoon";

describe("COCOON_JOB_RETENTION_DAYS at deploy", () => {
  it("unset or within 8..3650 whole days: accepted", () => {
    for (const days of [undefined, "8", "30", "3650"])
      expect(() => checkDeployerEnv("prod", days === undefined ? {} : { COCOON_JOB_RETENTION_DAYS: days })).not.toThrow();
  });

  it.each(["7", "3651", "30.5", "a month"])("%s is refused, by name", (days) => {
    expect(() => checkDeployerEnv("prod", { COCOON_JOB_RETENTION_DAYS: days })).toThrow(/^deploy refused: COCOON_JOB_RETENTION_DAYS /);
  });
});
