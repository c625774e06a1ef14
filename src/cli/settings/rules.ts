// Each setting's validation as plain data, derived from its zod type, so that start-up can accept a
// value without importing zod (about 70 ms of the 150 ms budget). A rule only ever says "valid, and
// this is the value zod would give" or "cannot say": a refusal, and every type a rule cannot state
// exactly, goes to zod, which decides and words the message. test/cli/settings/rules.test.ts holds the
// rules to zod's verdicts on every key with hundreds of values.
import type { z as Z } from 'zod'

export type Rule =
  | { kind: 'enum'; options: string[] }
  | { kind: 'integer' | 'number'; min?: number; max?: number; gt?: number; lt?: number }
  | { kind: 'boolean' }
  | { kind: 'string'; minLength: number }
  /** http(s) URLs: `protocol` is zod's protocol pattern (source, flags). */
  | { kind: 'url'; protocol: [string, string] }

interface JsonSchema {
  type?: string
  enum?: unknown[]
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  minLength?: number
  format?: string
}

/** The JSON-schema fields a rule can state; a type using any other has no rule. */
const KNOWN = new Set([
  '$schema',
  'type',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'format',
])

/** The rule for a zod type, or undefined when its checks are more than a rule states. */
export function ruleFor(z: typeof Z, type: Z.ZodType): Rule | undefined {
  const s = z.toJSONSchema(type) as JsonSchema
  if (Object.keys(s).some((k) => !KNOWN.has(k))) return undefined
  if (s.enum) {
    const only = Object.keys(s).every((k) => k === '$schema' || k === 'type' || k === 'enum')
    return only && s.enum.every((o) => typeof o === 'string')
      ? { kind: 'enum', options: s.enum as string[] }
      : undefined
  }
  if ((s.type === 'integer' || s.type === 'number') && s.format === undefined && s.minLength === undefined)
    return {
      kind: s.type,
      ...(s.minimum !== undefined && { min: s.minimum }),
      ...(s.maximum !== undefined && { max: s.maximum }),
      ...(s.exclusiveMinimum !== undefined && { gt: s.exclusiveMinimum }),
      ...(s.exclusiveMaximum !== undefined && { lt: s.exclusiveMaximum }),
    }
  if (s.type === 'boolean' && Object.keys(s).length === 2) return { kind: 'boolean' }
  if (s.type !== 'string' || s.minimum !== undefined || s.maximum !== undefined) return undefined
  if (s.format === undefined) return { kind: 'string', minLength: s.minLength ?? 0 }
  // A URL's protocol pattern is not in its JSON schema; it is read from the zod definition, and a
  // definition with anything more (hostname, normalize) has no rule.
  const def = (type as unknown as { def: Record<string, unknown> }).def
  const plain = ['type', 'format', 'check', 'abort', 'protocol']
  if (s.format !== 'uri' || s.minLength !== undefined || def.format !== 'url') return undefined
  if (Object.keys(def).some((k) => !plain.includes(k)) || !(def.protocol instanceof RegExp)) return undefined
  return { kind: 'url', protocol: [def.protocol.source, def.protocol.flags] }
}

// Only URLs of this plain shape are judged here (scheme://host[:port][/path]): zod returns them as
// they are. Anything else (spaces, queries, user info, IPv6 …) is zod's to judge.
const PLAIN_URL =
  /^([A-Za-z][A-Za-z0-9+.-]*):\/\/[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::([0-9]{1,5}))?(?:\/[A-Za-z0-9._~/-]*)?$/

/** The value zod gives for `value` under the rule, or undefined when the rule cannot say. */
export function checkByRule(rule: Rule, value: unknown): { value: unknown } | undefined {
  switch (rule.kind) {
    case 'enum':
      return typeof value === 'string' && rule.options.includes(value) ? { value } : undefined
    case 'boolean':
      return typeof value === 'boolean' ? { value } : undefined
    case 'string':
      return typeof value === 'string' && value.length >= rule.minLength ? { value } : undefined
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return undefined
      if (rule.kind === 'integer' && !Number.isSafeInteger(value)) return undefined
      const inRange =
        (rule.min === undefined || value >= rule.min) &&
        (rule.max === undefined || value <= rule.max) &&
        (rule.gt === undefined || value > rule.gt) &&
        (rule.lt === undefined || value < rule.lt)
      return inRange ? { value } : undefined
    }
    case 'url': {
      const m = typeof value === 'string' ? PLAIN_URL.exec(value) : null
      if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) return undefined
      const protocol = new RegExp(rule.protocol[0], rule.protocol[1])
      return protocol.test(m[1].toLowerCase()) && URL.canParse(m[0]) ? { value } : undefined
    }
  }
}
