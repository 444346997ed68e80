/**
 * Production stages, by name: prod, Prod, production, prod-eu… (a case-insensitive "prod"
 * prefix). Their data outlives `sst remove`, and play money (the faucet) and simulated TEEs can
 * never be switched on there. A prefix, not a list: an exact "prod" let a stage named
 * "production" take the faucet and drop its table on removal.
 */
export const isProductionStage = (stage: string): boolean => /^prod/i.test(stage);
