/**
 * Stage 4 (with `target_memory_gb` only), budget: the plan is rewritten from measured errors
 * before anything is written (../budget.ts), and the quality gate then accepts every tensor's one
 * rung, since the allocation has weighed quality already.
 */
import type { ResolvedConfig } from '../../../common/config/index.js';
import type { Plan } from '../../plan/plan.js';
import { applyBudget, type BudgetReport } from '../budget.js';
import type { Emit } from '../events.js';
import type { SourceFiles } from '../source-files.js';

export interface BudgetOutcome {
  report?: BudgetReport;
  /** The configuration the quality gate applies: `config`, or without thresholds under a budget. */
  acceptance: ResolvedConfig;
}

export async function fitBudget(plan: Plan, files: SourceFiles, config: ResolvedConfig, signal: AbortSignal, emit: Emit): Promise<BudgetOutcome> {
  if (config.target_memory_gb === null) return { acceptance: config };
  const report = await applyBudget(plan, files, config, signal);
  emit({ type: 'budget', report });
  return { report, acceptance: { ...config, min_accuracy: 0, fail_fast: false } };
}
