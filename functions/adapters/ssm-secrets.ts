/**
 * The SSM side of the secrets (functions/secrets.ts resolveSecrets): GetParameters with
 * decryption, at most 10 names a call (SSM's limit; a function reads one to three). Loaded only
 * by a function whose stack names a parameter; @aws-sdk/* is the Lambda runtime's, not bundled.
 */
import { GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { SecretParameter } from "../secrets";

const SSM_MAX_NAMES = 10;

export async function readSsmParameters(names: string[], client: SSMClient = new SSMClient({})): Promise<Map<string, SecretParameter>> {
  const out = new Map<string, SecretParameter>();
  for (let i = 0; i < names.length; i += SSM_MAX_NAMES) {
    const r = await client.send(new GetParametersCommand({ Names: names.slice(i, i + SSM_MAX_NAMES), WithDecryption: true }));
    // a name SSM does not know (or may not show this role) is in InvalidParameters: absent here
    for (const p of r.Parameters ?? []) if (p.Name && p.Value !== undefined) out.set(p.Name, { value: p.Value, type: p.Type });
  }
  return out;
}
