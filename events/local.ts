import { z } from "zod";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * `.cocoon/local.json`, written by `npm start` (local/main.ts) for the CLIs of other processes
 * on the same machine: where the local coordinator listens, and that its workers use SIMULATED
 * attestation (so `cocoon` accepts dev evidence from that network, and only from it).
 */
export const LocalNetworkFile = /* @__PURE__ */ (() =>
  z.object({
    apiUrl: z.url(),
    allowDevAttestation: z.boolean().default(false),
    startedAt: z.string().optional(),
  }))();
export type LocalNetworkFile = z.infer<typeof LocalNetworkFile>;
