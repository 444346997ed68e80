/**
 * `npm run deploy|remove`'s credentials check against the AWS SDK itself (stacks/deploy.ts
 * stsWhoAmI): deploy.test.ts injects the STS call, so what the real client sends, how many times,
 * whether the timeout cuts its request, and which error names the SDK gives each failure (which
 * credentialsRefusal turns into a code) were untested. STS here is a stand-in on 127.0.0.1
 * (AWS_ENDPOINT_URL_STS), the credentials are fake keys in the environment, and every other
 * source of credentials is switched off (no profile files, no instance metadata).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { checkCredentials, stsWhoAmI } from "./deploy";

const ACCOUNT = "123456789012";
const ARN = `arn:aws:iam::${ACCOUNT}:user/ops`;
const IDENTITY_XML =
  '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
  `<Arn>${ARN}</Arn><UserId>AIDAEXAMPLE</UserId><Account>${ACCOUNT}</Account>` +
  "</GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
const errorXml = (code: string, message: string) =>
  `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code>` +
  `<Message>${message}</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`;

/** The variables the SDK's credential chain and endpoint resolution read: saved, then set per test. */
const AWS_VARS = [
  "AWS_ENDPOINT_URL_STS",
  "AWS_ENDPOINT_URL",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_EC2_METADATA_DISABLED",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
];
const saved = Object.fromEntries(AWS_VARS.map((k) => [k, process.env[k]]));
let sts: Server | undefined;
/** What the stand-in STS was sent, one entry per request, and each request's close. */
let requests: Array<{ body: string; closed: Promise<void> }> = [];

/** The environment of a shell with `keys` (or none), its STS the stand-in, nothing else to find credentials in. */
function shell(keys: boolean) {
  for (const k of AWS_VARS) delete process.env[k];
  const home = tempDir("cocoon-deploy-sts-");
  Object.assign(process.env, {
    AWS_CONFIG_FILE: join(home, "config"),
    AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    ...(keys ? { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "not-a-secret" } : {}),
  });
}

/** Factory: the stand-in STS answering each request with `answer`, its endpoint in the environment. */
async function standInSts(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  sts = createServer((req, res) => {
    let body = "";
    const closed = new Promise<void>((r) => res.once("close", () => r()));
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      requests.push({ body, closed });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => sts!.listen(0, "127.0.0.1", r));
  process.env.AWS_ENDPOINT_URL_STS = `http://127.0.0.1:${(sts.address() as AddressInfo).port}`;
}

const xml = (status: number, body: string) => (_req: IncomingMessage, res: ServerResponse) =>
  res.writeHead(status, { "content-type": "text/xml" }).end(body);

beforeEach(() => {
  requests = [];
});
afterEach(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  sts?.closeAllConnections();
  await new Promise((r) => (sts ? sts.close(r) : r(undefined)));
  sts = undefined;
});

describe("stsWhoAmI against STS", () => {
  it("asks GetCallerIdentity once, signed with the shell's keys, and answers the account and the ARN", async () => {
    // Prepare
    shell(true);
    await standInSts(xml(200, IDENTITY_XML));
    // Act
    const who = await checkCredentials(stsWhoAmI, "eu-west-1", 10_000);
    // Assess
    expect(who).toEqual({ account: ACCOUNT, arn: ARN });
    expect(requests.map((r) => r.body)).toEqual(["Action=GetCallerIdentity&Version=2011-06-15"]);
  });

  it("credentials STS refuses are aws_credentials_invalid, asked once (no retries of a refusal or of a failure)", async () => {
    // Prepare
    shell(true);
    await standInSts(xml(403, errorXml("InvalidClientTokenId", "The security token included in the request is invalid.")));
    // Act
    const refused = checkCredentials(stsWhoAmI, "eu-west-1", 10_000);
    // Assess
    await expect(refused).rejects.toMatchObject({
      code: "aws_credentials_invalid",
      message: expect.stringContaining("InvalidClientTokenId: The security token included in the request is invalid."),
    });
    expect(requests).toHaveLength(1);
  });

  it("a failing STS (500) is asked once: the check does not wait out the SDK's retries", async () => {
    // Prepare
    shell(true);
    await standInSts(xml(500, errorXml("InternalFailure", "try later")));
    // Act
    const failed = checkCredentials(stsWhoAmI, "eu-west-1", 10_000);
    // Assess
    await expect(failed).rejects.toMatchObject({ code: "aws_credentials_unusable" });
    expect(requests).toHaveLength(1);
  });

  it("no credentials anywhere is no_aws_credentials, and nothing is sent", async () => {
    // Prepare
    shell(false);
    await standInSts(xml(200, IDENTITY_XML));
    // Act
    const refused = checkCredentials(stsWhoAmI, "eu-west-1", 10_000);
    // Assess
    await expect(refused).rejects.toMatchObject({ code: "no_aws_credentials" });
    expect(requests).toHaveLength(0);
  });

  it("an STS that does not answer is aws_unreachable at the timeout, and its request is cut, not left open", async () => {
    // Prepare: a stand-in that never answers
    shell(true);
    await standInSts(() => {});
    // Act
    const late = checkCredentials(stsWhoAmI, "eu-west-1", 300);
    // Assess
    await expect(late).rejects.toMatchObject({ code: "aws_unreachable" });
    await new Promise<void>((r) => {
      const wait = () => (requests.length ? r() : setTimeout(wait, 10));
      wait();
    });
    await requests[0]!.closed;
  });
});
