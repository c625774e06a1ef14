// Learning-rate schedules as transformers' get_scheduler computes them: linear warmup from 0 over
// `warmup` steps, then cosine or linear decay to 0 at the last step, or constant.
import type { LearningRateSchedule } from './types.js'

/** Warmup steps: an integer count, or a fraction of the total (rounded up, as HF's warmup_ratio). */
export function warmupSteps(warmup: number, totalSteps: number): number {
  return warmup >= 1 ? Math.floor(warmup) : Math.ceil(warmup * totalSteps)
}

/** The learning rate of optimizer step `step` (0-based) of `total`. */
export function learningRate(
  lr: number,
  schedule: LearningRateSchedule,
  step: number,
  total: number,
  warmup: number,
): number {
  if (step < warmup) return (lr * step) / Math.max(1, warmup)
  if (schedule === 'constant') return lr
  const progress = (step - warmup) / Math.max(1, total - warmup)
  if (schedule === 'linear') return lr * Math.max(0, 1 - progress)
  return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)))
}
