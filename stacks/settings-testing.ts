/**
 * Test fixture: every setting docs/deploy.md calls required, as a production stage takes them
 * (secrets by their SSM parameter's name), plus the route concurrency a production deploy warns of.
 */
export const COMPLETE_PROD_SETTINGS = {
  COCOON_SECRETS_KMS_KEY_ARN: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  COCOON_COORDINATOR_SEED_PARAM: "/cocoon/prod/coordinator-seed",
  COCOON_QUOTE_KEY_PARAM: "/cocoon/prod/quote-key",
  COCOON_SESSION_KEY_PARAM: "/cocoon/prod/session-key",
  COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC",
  COCOON_VAULT_ADDRESS: "0:" + "a".repeat(64),
  COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
  COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod/anchor-seed",
  COCOON_ROUTE_CONCURRENCY: "20",
};
