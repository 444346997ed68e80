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

describe("issue 12: lines written without Powertools' formatting are the lines Powertools writes", () => {
  /** Every line of each logger with its timestamp taken out (the two are made microseconds apart). */
  const run = (lean: boolean, calls: (log: ReturnType<typeof createJsonLog>) => void) => {
    const lines: string[] = [];
    calls(createJsonLog((l) => lines.push(l), "svc-test", { lean }));
    return lines.map((l) => {
      const { timestamp, ...rest } = JSON.parse(l) as Record<string, unknown>;
      expect(typeof timestamp).toBe("string");
      return [JSON.stringify(rest), l.includes('"timestamp":"') && !Number.isNaN(Date.parse(timestamp as string))];
    });
  };

  it("gives the same line, key for key and in the same order, for primitives, bigints, empty values, reserved keys, errors and nested data", () => {
    // Prepare: the calls the coordinator makes, and the cases Powertools treats specially (one
    // Error each, so both loggers print the same stack)
    const boom = new Error("boom");
    const asData = new Error("as data");
    const calls = (log: ReturnType<typeof createJsonLog>) => {
      log.info("job submitted", { jobId: "job_1", model: "m", candidates: 2, maxCost: 2300n });
      log.info("job completed", { jobId: "job_1", workerId: "w", cost: "12", promptTokens: 3, completionTokens: 16 });
      log.warn("dispatch failed", { jobId: "job_1", attempt: 0, error: "Error: x", flag: true, ratio: 0.5, nan: NaN });
      log.error("empty values dropped", { a: "", b: null, c: undefined, d: 0, e: false });
      log.info("", { x: 1 });
      log.info("no data");
      log.info("numeric keys", { "10": "a", b: "b", "2": "c" });
      log.warn("reserved", { level: "x", service: "y", other: 1 });
      log.error("an error value", { error: boom });
      log.info("nested", { details: { a: 1n, b: [1, 2] }, list: ["x"] });
      log.error("an Error as the data", asData as unknown as Record<string, unknown>);
    };
    // Act
    const lean = run(true, calls);
    const powertools = run(false, calls);
    // Assess
    expect(lean).toEqual(powertools);
    expect(lean).toHaveLength(11 + 2); // the two reserved keys each add Powertools' warning line
    expect(JSON.parse(lean[0]![0] as string)).toEqual({
      level: "INFO",
      message: "job submitted",
      service: "svc-test",
      sampling_rate: 0,
      jobId: "job_1",
      model: "m",
      candidates: 2,
      maxCost: "2300",
    });
  });

  it("follows a TZ other than UTC through Powertools (the timestamp carries its offset)", () => {
    // Prepare
    const tz = process.env.TZ;
    process.env.TZ = "Asia/Tokyo";
    try {
      const lines: string[] = [];
      // Act
      createJsonLog((l) => lines.push(l), "svc-test").info("job submitted", { jobId: "job_1" });
      // Assess
      expect(JSON.parse(lines[0]!).timestamp).toMatch(/\+09:00$/);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});

describe("issue 12: the level threshold", () => {
  it("drops lines under POWERTOOLS_LOG_LEVEL with and without Powertools' formatting", () => {
    // Prepare
    const before = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = "WARN";
    try {
      for (const lean of [true, false]) {
        const lines: string[] = [];
        const log = createJsonLog((l) => lines.push(l), "svc-test", { lean });
        // Act
        log.info("under the threshold", { jobId: "job_1" });
        log.warn("at it", { jobId: "job_1" });
        log.error("over it", { jobId: "job_1" });
        // Assess
        expect(lines.map((l) => JSON.parse(l).message)).toEqual(["at it", "over it"]);
      }
    } finally {
      if (before === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = before;
    }
  });
});
