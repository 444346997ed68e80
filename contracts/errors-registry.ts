/**
 * The policy registry's exit codes by name. Mirrors the constants in contracts/registry.tact
 * (contracts/registry.test.ts checks that both agree).
 */
export const RegistryExit = {
  ERR_NOT_REGISTRY_OWNER: 1201, // propose/approve/revoke/execute from a wallet that is not an owner
  ERR_NO_PROPOSAL: 1202, // no open proposal with this id (never made, executed or replaced)
  ERR_ALREADY_APPROVED: 1203, // this owner already approved this proposal
  ERR_NOT_ENOUGH_APPROVALS: 1204, // execute with fewer than m approvals
  ERR_TIMELOCKED: 1205, // execute before readyAt (m-th approval + time lock)
  ERR_STALE_PROPOSAL: 1206, // proposal made against a policy version that is no longer current
  ERR_BAD_POLICY: 1207, // operator fee above 100%, zero multiplier or zero coordinator key
  ERR_BAD_MULTISIG: 1208, // deploy with owner indices not 0..n-1, m outside 1..n, n > 16, or a time lock above 365 days
  ERR_NOT_APPROVED: 1209, // revoke by an owner that had not approved
} as const;

export type RegistryExitName = keyof typeof RegistryExit;

export function registryExitName(code: number): RegistryExitName | undefined {
  return (Object.keys(RegistryExit) as RegistryExitName[]).find((k) => RegistryExit[k] === code);
}
