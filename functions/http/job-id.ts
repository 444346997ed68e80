/** The job id of a route's path (`{id}`, or the name given), or 400 invalid_job_id. */
import { JobId } from "../../events/common";
import { CocoonError } from "../../core/errors";

export function jobIdOf(params: Record<string, string>, name = "id"): string {
  const id = JobId.safeParse(params[name]);
  if (!id.success) throw new CocoonError(400, "invalid_job_id", `path parameter ${name} must look like job_<26 lowercase base32 chars>`);
  return id.data;
}
