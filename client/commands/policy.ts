/**
 * `cocoon policy show|propose|approve|execute`: the PolicyRegistry contract (issue 15).
 *
 * show reads the registry's getter through toncenter with --registry and --ton-endpoint, or,
 * against the local default, its sandbox through the dev chain route. The owner commands act
 * as the local default's test owners (sandbox wallets "policy-owner-0..2", a 2-of-3 multisig
 * with a time lock): propose takes the current policy and applies the edits given; the chain
 * decides, and a refusal (fewer than m approvals, before the time lock, a stale proposal, not
 * an owner) is reported by its exit code name with exit 1. On a real network owners send
 * Propose/Approve/Execute from their own wallets (contracts/registry.ts has the bodies).
 */
import { type Command, InvalidArgumentError } from "commander";
import { API } from "../../api-client/routes";
import { policyFromBody, policyToBody, type RegistryPolicy } from "../../core/policy-registry";
import { TonEndpoint } from "../../events/common";
import type { PolicyStateView, RegistryPolicyBody } from "../../events/receipts";
import { runWithCode, type ReceiptsCommandDeps } from "./receipts";

const hex32 = (what: string) => (v: string) => {
  if (!/^[0-9a-f]{64}$/.test(v)) throw new InvalidArgumentError(`${what} is 32 bytes of lower-case hex.`);
  return v;
};
const collectHex =
  (what: string) =>
  (v: string, prev: string[] = []) => [...prev, hex32(what)(v)];
const uint = (max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > max) throw new InvalidArgumentError(`must be a whole number from 0 to ${max}.`);
  return n;
};
const nano = (v: string) => {
  if (!/^\d{1,30}$/.test(v)) throw new InvalidArgumentError("must be a whole number of nanoTON.");
  return BigInt(v);
};

export interface PolicyEdits {
  addImage?: string[];
  removeImage?: string[];
  addModel?: string[];
  removeModel?: string[];
  price?: bigint;
  promptBps?: number;
  completionBps?: number;
  operatorFeeBps?: number;
  coordinatorKey?: string;
}

/** The next policy: `current` with the edits applied (images and models as sets). */
export function editPolicy(current: RegistryPolicy, e: PolicyEdits): RegistryPolicy {
  const images = new Set(current.images);
  for (const h of e.addImage ?? []) images.add(h);
  for (const h of e.removeImage ?? []) images.delete(h);
  const models = { ...current.models };
  for (const h of e.addModel ?? []) models[h] ??= 0n;
  for (const h of e.removeModel ?? []) delete models[h];
  return {
    coordinatorKey: e.coordinatorKey ?? current.coordinatorKey,
    fees: {
      pricePerToken: e.price ?? current.fees.pricePerToken,
      promptBps: e.promptBps ?? current.fees.promptBps,
      completionBps: e.completionBps ?? current.fees.completionBps,
      operatorFeeBps: e.operatorFeeBps ?? current.fees.operatorFeeBps,
    },
    images: [...images].sort(),
    models,
  };
}

function formatPolicy(p: RegistryPolicyBody): string[] {
  return [
    `  coordinator key  ${p.coordinatorKey}`,
    `  fees             ${p.fees.pricePerToken} nanoTON/token · prompt ×${p.fees.promptBps / 10_000} · completion ×${p.fees.completionBps / 10_000} · operator ${p.fees.operatorFeeBps / 100} %`,
    `  images (${p.images.length})${p.images.map((h) => `\n    ${h}`).join("")}`,
    // An empty model list is no list in force (core/policy-registry.ts modelListInForce): every
    // model is allowed. A bare "models (0)" read as "no model allowed".
    `  models (${Object.keys(p.models).length}${Object.keys(p.models).length === 0 ? ": no model allow-list in force, any model digest is accepted" : ""})${Object.entries(
      p.models,
    )
      .map(([h, price]) => `\n    ${h}${price !== "0" ? ` ${price} nanoTON/token` : ""}`)
      .join("")}`,
  ];
}

export function formatPolicyState(s: PolicyStateView): string {
  return [
    `policy registry ${s.address}: version ${s.version}, changed ${new Date(s.updatedAt * 1000).toISOString()} (read at chain time ${new Date(s.readAt * 1000).toISOString()})`,
    ...formatPolicy(s.policy),
    `  multisig         ${s.multisig.threshold}-of-${s.multisig.ownerCount}, time lock ${s.multisig.timelock} s`,
    ...s.proposals.map(
      (p) =>
        `  proposal ${p.id} by owner ${p.proposer} (against v${p.baseVersion}): approved by [${p.approvals.join(", ")}]${p.readyAt ? `, executable from ${new Date(p.readyAt * 1000).toISOString()}` : ", below the threshold"}`,
    ),
  ].join("\n");
}

/** The registry through toncenter (no multisig detail: the policy and its version). */
async function toncenterPolicy(o: { registry: string; tonEndpoint?: string; tonApiKey?: string }): Promise<PolicyStateView> {
  if (!o.tonEndpoint) throw new InvalidArgumentError("reading the registry needs --ton-endpoint (or COCOON_TON_ENDPOINT)");
  const endpoint = TonEndpoint.safeParse(o.tonEndpoint);
  if (!endpoint.success) throw new InvalidArgumentError(`--ton-endpoint ${endpoint.error.issues[0]!.message}`);
  const [{ TonClient }, { Address }, { ChainPolicySource, toncenterClock }, { RegistryContract }] = await Promise.all([
    import("@ton/ton"),
    import("@ton/core"),
    import("../../ton/registry"),
    import("../../contracts/registry"),
  ]);
  const client = new TonClient({ endpoint: endpoint.data, apiKey: o.tonApiKey });
  const address = Address.parse(o.registry);
  const reading = await new ChainPolicySource(client, address, toncenterClock(client, address)).read();
  const multisig = await RegistryContract.createFromAddress(address).getMultisig(client.provider(address));
  return {
    address: address.toRawString(),
    version: reading.version,
    updatedAt: reading.updatedAt,
    readAt: Math.floor(reading.readAt),
    policy: policyToBody(reading.policy),
    multisig,
    proposals: [],
  };
}

export function definePolicyCommands(parent: Command, d: ReceiptsCommandDeps): Command {
  const policy = parent
    .command("policy")
    .description("the policy registry on TON: allowed images and models, fees, the coordinator's key (m-of-n owners, time lock)");
  const out = (o: { json?: boolean }, v: unknown, text: string) => d.io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  const owner = (cmd: Command) =>
    cmd.requiredOption("--owner <index>", "which of the local registry's test owners acts (0, 1 or 2)", uint(15));

  d.connection(
    policy
      .command("show")
      .description("the registry's current policy (and, locally, its multisig and open proposals)")
      .option(
        "--registry <address>",
        "the PolicyRegistry to read through toncenter (default: COCOON_REGISTRY_ADDRESS; the local network's sandbox when unset)",
      )
      .option("--ton-endpoint <url>", "toncenter JSON-RPC (default: COCOON_TON_ENDPOINT)")
      .option("--ton-api-key <key>", "toncenter API key (default: COCOON_TON_API_KEY)"),
  ).action(
    runWithCode(
      d,
      async (o: { api?: string; key?: string; json?: boolean; registry?: string; tonEndpoint?: string; tonApiKey?: string }) => {
        const registry = o.registry ?? process.env.COCOON_REGISTRY_ADDRESS;
        const s = registry
          ? await toncenterPolicy({
              registry,
              tonEndpoint: o.tonEndpoint ?? process.env.COCOON_TON_ENDPOINT,
              tonApiKey: o.tonApiKey ?? process.env.COCOON_TON_API_KEY,
            })
          : await d.api(o).request(API.devPolicy);
        out(o, s, formatPolicyState(s));
        return 0;
      },
    ),
  );

  owner(
    d.connection(
      policy
        .command("propose")
        .description("LOCAL: a test owner proposes the current policy with these edits (counts as its approval); prints the proposal id")
        .option("--add-image <digest>", "allow an image measurement digest (repeatable)", collectHex("an image digest"))
        .option(
          "--remove-image <digest>",
          "remove an image digest (repeatable): its workers leave the candidate lists once the change executes",
          collectHex("an image digest"),
        )
        .option("--add-model <digest>", "allow a model digest (repeatable)", collectHex("a model digest"))
        .option("--remove-model <digest>", "remove a model digest (repeatable)", collectHex("a model digest"))
        .option("--price <nanoTON>", "default base price per token", nano)
        .option("--prompt-bps <n>", "prompt-token multiplier, 10000 = ×1", uint(1_000_000))
        .option("--completion-bps <n>", "completion-token multiplier, 10000 = ×1", uint(1_000_000))
        .option("--operator-fee-bps <n>", "operator's share of each job, 0..10000", uint(10_000))
        .option("--coordinator-key <hex>", "the coordinator's Ed25519 public key", hex32("the coordinator key")),
    ),
  ).action(
    runWithCode(d, async (o: PolicyEdits & { api?: string; key?: string; json?: boolean; owner: number }) => {
      const api = d.api(o);
      const current = await api.request(API.devPolicy);
      const next = editPolicy(policyFromBody(current.policy), o);
      const r = await api.request(API.devPolicyPropose, { body: { owner: o.owner, policy: policyToBody(next) } });
      out(
        o,
        r,
        r.success
          ? `proposal ${r.id} by owner ${o.owner} (counts as its approval; needs ${current.multisig.threshold} approvals, then ${current.multisig.timelock} s)`
          : `REFUSED on chain: ${r.error}`,
      );
      return r.success ? 0 : 1;
    }),
  );

  for (const [name, what] of [
    ["approve", "approves proposal <id>; the time lock starts at the m-th approval"],
    ["execute", "executes proposal <id>: refused on chain below m approvals or before the time lock"],
  ] as const) {
    owner(
      d.connection(
        policy
          .command(name)
          .description(`LOCAL: a test owner ${what}`)
          .argument("<id>", "the proposal id", uint(2 ** 32)),
      ),
    ).action(
      runWithCode(d, async (id: number, o: { api?: string; key?: string; json?: boolean; owner: number }) => {
        const route = name === "approve" ? API.devPolicyApprove : API.devPolicyExecute;
        const r = await d.api(o).request(route, { body: { owner: o.owner, id } });
        out(o, r, r.success ? `${name}d proposal ${id} (owner ${o.owner})` : `REFUSED on chain: ${r.error}`);
        return r.success ? 0 : 1;
      }),
    );
  }
  return policy;
}
