import { describe, expect, it } from "vitest";
import { createJsonLog } from "./log";

describe("the JSON logger (Powertools, one construction for Lambda and local)", () => {
  it("writes one JSON line per call with level, message, service and the data as top-level keys; bigints as strings", () => {
    // Prepare
    const lines: string[] = [];
    const log = createJsonLog((l) => lines.push(l), "svc-test");
    // Act
    log.info("job submitted", { jobId: "job_1", maxCost: 12n });
    log.warn("dispatch failed");
    log.error("books are wrong", { code: "overdraft" });
    // Assess
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed).toHaveLength(3);
    expect(parsed[0]).toMatchObject({ level: "INFO", message: "job submitted", service: "svc-test", jobId: "job_1", maxCost: "12" });
    expect(parsed[1]).toMatchObject({ level: "WARN", message: "dispatch failed", service: "svc-test" });
    expect(parsed[2]).toMatchObject({ level: "ERROR", message: "books are wrong", code: "overdraft" });
    expect(Number.isNaN(Date.parse(parsed[0].timestamp))).toBe(false);
  });
});
