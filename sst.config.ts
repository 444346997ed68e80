import type { SSTConfig } from "sst";
import { Cocoon } from "./stacks/Cocoon";
import { isProductionStage } from "./core/stages";

/**
 * SST v2 (sst 2.49.8 on aws-cdk-lib 2.224.0). Deploy: `npx sst deploy --stage prod`;
 * offline synthesis: `npm run synth` (stacks/synth.ts). See docs/deploy.md.
 */
export default {
  config(input) {
    return {
      name: "cocoon",
      region: input.region ?? process.env.AWS_REGION ?? "us-east-1",
    };
  },
  stacks(app) {
    // Dev stages disappear with `sst remove`; retained stages keep their table (and logs).
    if (!isProductionStage(app.stage)) app.setDefaultRemovalPolicy("destroy");
    app.stack(Cocoon);
  },
} satisfies SSTConfig;
