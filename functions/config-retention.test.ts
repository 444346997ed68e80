/**
 * COCOON_JOB_RETENTION_DAYS (core/jobs/retention.ts): read once with the rest of the functions'
 * configuration, whole days from MIN_JOB_RETENTION_DAYS to MAX_JOB_RETENTION_DAYS, a bad value
 * failing the cold start by name; unset, the core's default applies.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_CORE_CONFIG, DEFAULT_JOB_RETENTION_DAYS, MAX_JOB_RETENTION_DAYS, MIN_JOB_RETENTION_DAYS } from "../core/config";
import { jobRetentionSeconds } from "../core/jobs/retention";
import { ConfigError, loadAwsConfig } from "./config";
import { prodStageEnv } from "./adapters/aws-testing";

describe("COCOON_JOB_RETENTION_DAYS", () => {
  it("unset: no override, so the core's 30 days apply", () => {
    const core = loadAwsConfig(prodStageEnv()).core;
    expect("jobRetentionDays" in core).toBe(false);
    expect(jobRetentionSeconds({ ...DEFAULT_CORE_CONFIG, ...core })).toBe(DEFAULT_JOB_RETENTION_DAYS * 86_400);
    expect(DEFAULT_JOB_RETENTION_DAYS).toBe(30);
  });

  it.each([MIN_JOB_RETENTION_DAYS, 45, MAX_JOB_RETENTION_DAYS])("%i days is taken as given", (days) => {
    expect(loadAwsConfig(prodStageEnv({ COCOON_JOB_RETENTION_DAYS: String(days) })).core.jobRetentionDays).toBe(days);
  });

  it.each([
    [String(MIN_JOB_RETENTION_DAYS - 1), /at least 8 days/],
    [String(MAX_JOB_RETENTION_DAYS + 1), /at most 3650 days/],
    ["30.5", /whole days/],
    ["thirty", /COCOON_JOB_RETENTION_DAYS/],
  ])("%s fails the cold start, naming the variable", (value, message) => {
    let err: unknown;
    try {
      loadAwsConfig(prodStageEnv({ COCOON_JOB_RETENTION_DAYS: value }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("COCOON_JOB_RETENTION_DAYS");
    expect((err as ConfigError).message).toMatch(message);
  });
});
