/**
 * What the coordinator accepts as a job: a well-formed SubmitRequest whose configuration
 * resolves, whose paths are given, and whose id is the one its (model, output, configuration)
 * hash to, so one job's checkpoints can never be picked up by a different request. A bad
 * submission is the client's error (INVALID_ARGUMENT), not a failed job.
 */
import { resolveConfig, type ResolvedConfig } from '../../common/config/index.js';
import { ClusterError } from '../../common/cluster/errors.js';
import { decodeSubmitRequest, type SubmitRequest } from '../../common/cluster/messages.js';
import { jobIdFor } from './client.js';

/** Job ids are the client's hash (`jobIdFor`); they become etcd keys and spool directories. */
const JOB_ID = /^[0-9a-f]{24}$/;

export class InvalidSubmissionError extends ClusterError {
  override name = 'InvalidSubmissionError';
}

/** The job's configuration as the client resolved it, checked again here. */
export function submittedConfig(configJson: string): ResolvedConfig {
  return resolveConfig({ api: JSON.parse(configJson), env: {} }).config;
}

/** The request and its configuration; throws `InvalidSubmissionError` saying what is wrong. */
export function acceptSubmission(raw: unknown): { req: SubmitRequest; config: ResolvedConfig } {
  let req: SubmitRequest;
  try {
    req = decodeSubmitRequest(raw);
  } catch (cause) {
    throw new InvalidSubmissionError((cause as Error).message, { cause });
  }
  if (!req.jobId || !req.modelPath || !req.outputPath) throw new InvalidSubmissionError('job_id, model_path and output_path are required');
  if (!JOB_ID.test(req.jobId)) throw new InvalidSubmissionError(`job_id ${JSON.stringify(req.jobId.slice(0, 64))} is not 24 hex digits`);
  let config: ResolvedConfig;
  try {
    config = submittedConfig(req.configJson);
  } catch (cause) {
    throw new InvalidSubmissionError(`config_json: ${(cause as Error).message}`, { cause });
  }
  if (jobIdFor(req.modelPath, req.outputPath, config) !== req.jobId) throw new InvalidSubmissionError(`job_id ${req.jobId} is not the id of this model, output and configuration`);
  return { req, config };
}
