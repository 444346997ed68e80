/**
 * Test set-up shared by relay-sessions.test.ts and relay-sessions-edges.test.ts. Imported by tests only.
 */
import { beforeEach } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { SQSClient } from "@aws-sdk/client-sqs";

/**
 * Mocks every SQSClient and STSClient a relay session vendor makes, so no AWS call is made; before
 * each test both are reset and AssumeRole grants a session. Call once, at the top of a test file.
 */
export function mockRelayAws() {
  const sqs = mockClient(SQSClient);
  const sts = mockClient(STSClient);
  beforeEach(() => {
    sqs.reset();
    sts.reset();
    sts
      .on(AssumeRoleCommand)
      .resolves({ Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date(2e12) } });
  });
  return { sqs, sts };
}
