import type { Route } from "./middleware";
import { route as prepareJob } from "./prepare-job";
import { route as submitJob } from "./submit-job";
import { route as getJob } from "./get-job";
import { route as getAccount } from "./get-account";
import { route as faucet } from "./faucet";
import { route as listModels } from "./list-models";
import { route as workerNonce } from "./worker-nonce";
import { route as registerWorker } from "./register-worker";
import { route as heartbeat } from "./heartbeat";
import { route as pollJobs } from "./poll-jobs";
import { route as postResult } from "./post-result";
import { route as workerStatus } from "./worker-status";

/** Every REST route except GET /openapi.json (which is generated from these). */
export const routes: Route[] = [
  prepareJob,
  submitJob,
  getJob,
  getAccount,
  faucet,
  listModels,
  workerNonce,
  registerWorker,
  heartbeat,
  pollJobs,
  postResult,
  workerStatus,
] as Route[];
