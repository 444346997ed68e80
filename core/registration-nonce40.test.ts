/**
 * collat40b: the coordinator names, with each registration nonce, the collateral age bound the
 * registration will be verified against (its own policy's, not the one an agent was built with),
 * so that a tdx agent fetches its collateral against it before making the evidence.
 */
import { describe, expect, it } from "vitest";
import { localPolicy } from "./attestation/policy";
import { generateSigningKey } from "./crypto/keys";
import { makeJobWorld } from "./jobs/testing";
import { issueRegistrationNonce } from "./workers";

describe("the registration nonce's answer (collat40b)", () => {
  it("names the coordinator's policy version and its maxCollateralAgeSeconds", async () => {
    // Prepare: a coordinator whose policy bounds the collateral's age at 30 hours
    const w = makeJobWorld();
    w.deps.policy = { ...localPolicy, version: 9, maxCollateralAgeSeconds: 30 * 3600 };
    // Act
    const answer = await issueRegistrationNonce(w.deps, generateSigningKey().id);
    // Assess
    expect(answer.attestationPolicy).toEqual({ policyVersion: 9, maxCollateralAgeSeconds: 30 * 3600 });
  });

  it("names no bound where its policy sets none (Intel's nextUpdate only), which the agent reads as none, not as the bundled one", async () => {
    // Prepare
    const w = makeJobWorld();
    const { maxCollateralAgeSeconds: _none, ...unbounded } = localPolicy;
    w.deps.policy = { ...unbounded, version: 4 };
    // Act
    const answer = await issueRegistrationNonce(w.deps, generateSigningKey().id);
    // Assess
    expect(answer.attestationPolicy).toEqual({ policyVersion: 4 });
  });
});
