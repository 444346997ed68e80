/** The job id of a relay route's path, or 400 invalid_job_id. */
import { JobId } from "../../events/api";
import { CocoonError } from "../../core/errors";

export function jobIdOf(params: Record<string, string>): string {
  const id = JobId.safeParse(params.id);
  if (!id.success) throw new CocoonError(400, "invalid_job_id", "path parameter id must look like job_<26 lowercase base32 chars>");
  return id.data;
}
