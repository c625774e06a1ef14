// `kiln finetune`'s options from its flags, KILN_FINETUNE_* variables, the settings file and the
// defaults, in that order: every flag has a `finetune.*` key of the same name (snake_case), and the
// settings schema is the one place that says what each accepts, for flags as for the file.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import type { AccelerateFinetuneOptions, MixedPrecision, ZeroStage } from '../core/train/accelerate/index.js'
import { isHubDatasetArg } from '../core/train/data/hub-dataset.js'
import type { FinetuneMethod, LearningRateSchedule } from '../core/train/types.js'
import { HUB_KEYS, hubFromSettings } from './settings/hub-settings.js'
import { loadSettings } from './settings/load.js'
import { settingsPath } from './settings/location.js'
import { type ResolvedSetting, resolveSetting } from './settings/resolve.js'
import { typedKey } from './settings/types.js'
import { checkValue, fromText } from './settings/values.js'

/** The command's flags that stand for a `finetune.*` setting (the key is the name in snake_case). */
export const FINETUNE_SETTING_FLAGS = [
  'model',
  'data',
  'output',
  'method',
  'rank',
  'alpha',
  'dropout',
  'target',
  'epochs',
  'max-steps',
  'batch-size',
  'grad-accum',
  'lr',
  'schedule',
  'warmup',
  'weight-decay',
  'max-grad-norm',
  'seq-len',
  'packing',
  'gradient-checkpointing',
  'loss-chunk',
  'merge',
  'eval',
  'eval-split',
  'eval-every',
  'save-every',
  'resume',
  'seed',
  'threads',
  'force',
  'num-processes',
  'mixed-precision',
  'deepspeed',
] as const

export type FinetuneFlag = (typeof FINETUNE_SETTING_FLAGS)[number]

export const settingKeyOf = (flag: FinetuneFlag) => `finetune.${flag.replaceAll('-', '_')}`

/** The learning rate each method trains well with when none is given (PEFT's and HF's usual). */
export const DEFAULT_LR: Record<FinetuneMethod, number> = { lora: 2e-4, full: 2e-5 }

/** Flags that only mean something for LoRA: given with --method full they are a mistake. */
const LORA_ONLY: FinetuneFlag[] = ['rank', 'alpha', 'dropout', 'target', 'merge']

/** Flags that only mean something to accelerate: given with --launcher kiln they are a mistake. */
const ACCELERATE_ONLY: FinetuneFlag[] = ['num-processes', 'mixed-precision', 'deepspeed']

/** What trains: kiln's own engine, or Hugging Face accelerate running a script kiln writes. */
export type FinetuneLauncher = 'kiln' | 'accelerate'

/** The setting --launcher falls back to; it says `native` for kiln's own engine. */
export const LAUNCHER_KEY = 'finetune.engine'

export interface ResolvedFinetune {
  /** `model` as given (a folder, a GGUF file or a repo id), or undefined for the default model. */
  options: Omit<AccelerateFinetuneOptions, 'model'> & { model?: string }
  launcher: FinetuneLauncher
  hub: HubOptions
}

interface Value {
  value: unknown
  /** Where it came from, for messages: --rank, KILN_FINETUNE_RANK, or the settings file's key. */
  where: string
  fromFlag: boolean
}

/**
 * The finetune options. `flags` are oclif's parsed flags (numbers as text: the schema checks them,
 * so a flag and a settings value are held to the same rule and get the same words).
 */
export async function resolveFinetuneOptions(
  flags: Partial<Record<FinetuneFlag | 'launcher', unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedFinetune> {
  const file = await loadSettings(settingsPath(env), env)
  const values = new Map<FinetuneFlag, Value>()
  for (const flag of FINETUNE_SETTING_FLAGS) {
    const key = settingKeyOf(flag)
    const given = flags[flag]
    if (given !== undefined) {
      values.set(flag, {
        value: await checkFlag(key, `--${flag}`, given),
        where: `--${flag}`,
        fromFlag: true,
      })
      continue
    }
    const s = await resolveSetting(key, { env, file })
    if (s.value !== undefined) values.set(flag, { value: s.value, where: whereOf(s), fromFlag: false })
  }
  const others = new Map<string, ResolvedSetting>()
  for (const key of ['runtime.threads', LAUNCHER_KEY, ...HUB_KEYS])
    others.set(key, await resolveSetting(key, { env, file }))

  const get = <T>(flag: FinetuneFlag) => values.get(flag)?.value as T | undefined
  const method = get<FinetuneMethod>('method') ?? 'lora'
  const launcher = launcherOf(flags.launcher, others.get(LAUNCHER_KEY))
  if (launcher === 'kiln')
    for (const flag of ACCELERATE_ONLY)
      if (values.get(flag)?.fromFlag)
        throw new UsageError(
          `--${flag} applies to --launcher accelerate only (kiln's own engine trains in one process, without mixed precision or DeepSpeed)`,
        )
  if (method === 'full')
    for (const flag of LORA_ONLY)
      if (values.get(flag)?.fromFlag) throw new UsageError(`--${flag} applies to --method lora only`)
  const data = get<string>('data')
  if (data === undefined)
    throw new UsageError('no training data: give --data FILE (or set finetune.data, KILN_FINETUNE_DATA)')
  requireFile(data, values.get('data')!)
  const evalFile = get<string>('eval')
  if (evalFile !== undefined) requireFile(evalFile, values.get('eval')!)
  exclusive(values, 'eval', 'eval-split')
  exclusive(values, 'resume', 'force', true)
  const rank = get<number>('rank') ?? 16
  const warmup = get<number>('warmup')
  if (warmup !== undefined && warmup >= 1 && !Number.isInteger(warmup))
    throw new UsageError(
      `${values.get('warmup')!.where} must be a whole number of steps, or a fraction of them below 1 (got ${warmup})`,
    )
  const model = get<string>('model')
  return {
    options: {
      model,
      data,
      out: get<string>('output') ?? defaultOutput(model, method),
      method,
      // The LoRA settings of a full run are the recipe's defaults, not something to train with.
      ...(method === 'lora' && {
        rank,
        alpha: get<number>('alpha') ?? 2 * rank,
        dropout: get<number>('dropout'),
        target: targets(get<string>('target'), values.get('target')),
        merge: get<boolean>('merge') ?? false,
      }),
      epochs: get<number>('epochs'),
      maxSteps: get<number>('max-steps'),
      batchSize: get<number>('batch-size'),
      gradAccum: get<number>('grad-accum'),
      lr: get<number>('lr') ?? DEFAULT_LR[method],
      schedule: get<LearningRateSchedule>('schedule'),
      warmup,
      weightDecay: get<number>('weight-decay'),
      maxGradNorm: get<number>('max-grad-norm'),
      seqLen: get<number>('seq-len'),
      packing: get<boolean>('packing'),
      gradientCheckpointing: get<boolean>('gradient-checkpointing'),
      lossChunk: get<number>('loss-chunk'),
      eval: evalFile,
      evalSplit: get<number>('eval-split'),
      evalEvery: get<number>('eval-every'),
      saveEvery: get<number>('save-every'),
      resume: get<boolean>('resume') ?? false,
      seed: get<number>('seed'),
      threads: get<number>('threads') ?? (others.get('runtime.threads')?.value as number | undefined),
      force: get<boolean>('force') ?? false,
      ...(launcher === 'accelerate' && {
        numProcesses: get<number>('num-processes') ?? 1,
        mixedPrecision: get<MixedPrecision>('mixed-precision') ?? 'no',
        deepspeed: get<ZeroStage>('deepspeed'),
      }),
    },
    launcher,
    hub: hubFromSettings(others),
  }
}

/** A flag's value checked against its setting's schema: "--rank must be an integer ≥ 1 (got 0)". */
async function checkFlag(key: string, flag: string, given: unknown): Promise<unknown> {
  const t = await typedKey(key)
  const r = checkValue(t, typeof given === 'string' ? fromText(t, given) : given)
  if (!r.ok) throw new UsageError(r.problem.startsWith(key) ? flag + r.problem.slice(key.length) : r.problem)
  return r.value
}

/** --launcher, else finetune.engine (whose `native` is kiln), else kiln. */
function launcherOf(flag: unknown, setting: ResolvedSetting | undefined): FinetuneLauncher {
  if (flag === 'kiln' || flag === 'accelerate') return flag
  if (flag !== undefined) throw new UsageError(`--launcher must be kiln or accelerate (got ${String(flag)})`)
  return setting?.value === 'accelerate' ? 'accelerate' : 'kiln'
}

function whereOf(s: ResolvedSetting): string {
  if (s.source === 'env') return s.from ?? s.key
  if (s.source === 'file') return `${s.key} (${s.from})`
  return s.key
}

/** DATA and --eval: an existing file, or a Hub dataset id (fetched when the run starts). */
function requireFile(file: string, from: Value): void {
  if (!existsSync(file) && !isHubDatasetArg(file)) throw new UsageError(`${from.where} ${file}: no such file`)
}

/** Two options that cannot both be set; `onlyTrue`: booleans, where false is the same as unset. */
function exclusive(
  values: Map<FinetuneFlag, Value>,
  a: FinetuneFlag,
  b: FinetuneFlag,
  onlyTrue = false,
): void {
  const set = (f: FinetuneFlag) => values.has(f) && (!onlyTrue || values.get(f)?.value === true)
  if (set(a) && set(b))
    throw new UsageError(`give ${values.get(a)!.where} or ${values.get(b)!.where}, not both`)
}

/** `q_proj, v_proj` as names; all-linear stands alone (PEFT's meaning: every linear but the head). */
function targets(text: string | undefined, from: Value | undefined): string[] | undefined {
  if (text === undefined || !from) return undefined
  const names = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
  if (names.length === 0) throw new UsageError(`${from.where} names no module (got "${text}")`)
  if (names.includes('all-linear') && names.length > 1)
    throw new UsageError(`${from.where}: all-linear stands alone (got "${text}")`)
  const bad = names.find((n) => !/^[A-Za-z_][\w.-]*$/.test(n))
  if (bad !== undefined) throw new UsageError(`${from.where}: "${bad}" is not a module name`)
  return names
}

/** `<model>-<method>` in the working folder: the model folder's, file's or repo's own name. */
export function defaultOutput(model: string | undefined, method: FinetuneMethod): string {
  const name =
    model === undefined ? 'default' : path.basename(model.replace(/@[^/]*$/, '').replace(/\/+$/, ''))
  return path.resolve(`${name.replace(/\.gguf$/i, '')}-${method}`)
}
