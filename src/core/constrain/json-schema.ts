// A JSON schema compiled to the grammar constrained decoding follows. Everything the output must
// satisfy has to be enforced byte by byte, so a keyword kiln cannot enforce is refused with its
// path rather than ignored (an output that breaks the schema is worse than a clear error).
// Annotations (title, description, format, …) assert nothing and are skipped.
import { option, UsageError } from '../errors.js'
import { type Grammar, type GrammarNode, NodeFactory, type UnionNode } from './grammar.js'
import { canStart } from './json-matcher.js'

type Schema = Record<string, unknown>

/** Keywords that assert nothing about the value (format is an annotation unless a validator opts in). */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$anchor',
  '$comment',
  '$defs',
  'definitions',
  'title',
  'description',
  'default',
  'examples',
  'format',
  'deprecated',
  'readOnly',
  'writeOnly',
  'contentEncoding',
  'contentMediaType',
])

/** What kiln enforces; any other keyword is refused. */
const ENFORCED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  '$ref',
])

const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const
type TypeName = (typeof TYPES)[number]

/** Bounds that keep a hostile schema from costing unbounded memory or time. */
const MAX_NODES = 10_000
const MAX_DEPTH = 64
const MAX_ENUM = 1_000

export function compileJsonSchema(schema: unknown): Grammar {
  const compiler = new SchemaCompiler(schema)
  let grammar: Grammar
  try {
    JSON.stringify(schema) // the grammar's cache key: a schema too deep for it is refused here
    grammar = { root: compiler.compile(schema, '', 0) }
  } catch (e) {
    // JSON.stringify of an enum or const value nested thousands deep runs out of stack.
    if (e instanceof RangeError) throw schemaError('', 'nests too deeply')
    throw e
  }
  if (!canStart(grammar)) throw schemaError('', 'matches no JSON value (a $ref cycle that never reaches one)')
  return grammar
}

function schemaError(path: string, what: string): UsageError {
  // Keys and keywords come from the client: control characters are escaped so the message stays one line.
  const at = path.length > 200 ? `${path.slice(0, 200)}…` : path
  const text = `the schema${at ? ` at ${at}` : ''} ${what}`.replace(
    /[\u0000-\u001f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  return new UsageError(`${option('responseFormat')}: ${text}`)
}

class SchemaCompiler {
  private readonly f = new NodeFactory()
  private readonly refs = new Map<string, UnionNode>()
  private nodes = 0

  constructor(private readonly root: unknown) {}

  compile(schema: unknown, path: string, depth: number): GrammarNode {
    if (++this.nodes > MAX_NODES) this.fail(path, `has more than ${MAX_NODES} subschemas`)
    if (depth > MAX_DEPTH) this.fail(path, `nests deeper than ${MAX_DEPTH} levels`)
    if (schema === true) return this.f.any()
    if (schema === false) this.fail(path, 'is false: no value can match it')
    if (!isObject(schema)) this.fail(path, 'must be an object or a boolean')
    const s = schema as Schema
    for (const k of Object.keys(s))
      if (!ENFORCED.has(k) && !ANNOTATIONS.has(k))
        this.fail(path, `uses "${k}", which kiln's constrained decoding cannot enforce`)
    const structural = Object.keys(s).filter((k) => ENFORCED.has(k))
    const alone = (k: string) => {
      if (structural.length > 1)
        this.fail(
          path,
          `has "${k}" beside ${structural.filter((x) => x !== k).join(', ')}; put them inside it`,
        )
    }
    if (s.$ref !== undefined) {
      alone('$ref')
      return this.ref(s.$ref, `${path}/$ref`, depth)
    }
    for (const k of ['anyOf', 'oneOf'] as const)
      if (s[k] !== undefined) {
        // oneOf is compiled as anyOf: kiln does not check that exactly one branch matches.
        alone(k)
        const list = this.list(s[k], `${path}/${k}`)
        const options = list.map((x, i) => this.compile(x, `${path}/${k}/${i}`, depth + 1))
        return options.length === 1 ? options[0] : { kind: 'union', id: this.f.id(), options }
      }
    if (s.allOf !== undefined) {
      alone('allOf')
      const list = this.list(s.allOf, `${path}/allOf`)
      if (list.length !== 1) this.fail(`${path}/allOf`, 'must hold one schema (kiln does not merge schemas)')
      return this.compile(list[0], `${path}/allOf/0`, depth + 1)
    }
    if (s.const !== undefined) return this.f.literal([s.const])
    if (s.enum !== undefined) {
      const values = this.list(s.enum, `${path}/enum`)
      if (values.length > MAX_ENUM) this.fail(`${path}/enum`, `has more than ${MAX_ENUM} values`)
      const types = this.types(s, path)
      const kept = types ? values.filter((v) => types.some((t) => hasType(v, t))) : values
      if (kept.length === 0) this.fail(`${path}/enum`, 'has no value of the schema’s type')
      return this.f.literal(kept)
    }
    const types = this.types(s, path) ?? inferTypes(s)
    const options = types.map((t) => this.typed(t, s, path, depth))
    return options.length === 1 ? options[0] : { kind: 'union', id: this.f.id(), options }
  }

  private typed(type: TypeName | 'any', s: Schema, path: string, depth: number): GrammarNode {
    switch (type) {
      case 'any':
        return this.f.any()
      case 'object':
        return this.object(s, path, depth)
      case 'array': {
        const items = s.items === undefined ? true : s.items
        const max = items === false ? 0 : this.count(s, 'maxItems', path, Number.POSITIVE_INFINITY)
        const min = this.count(s, 'minItems', path, 0)
        if (min > max) this.fail(path, 'has minItems above maxItems')
        const node = items === false ? this.f.literal([]) : this.compile(items, `${path}/items`, depth + 1)
        return { kind: 'array', id: this.f.id(), items: node, min, max }
      }
      case 'string': {
        const min = this.count(s, 'minLength', path, 0)
        const max = this.count(s, 'maxLength', path, Number.POSITIVE_INFINITY)
        if (min > max) this.fail(path, 'has minLength above maxLength')
        return this.f.string(min, max)
      }
      case 'number':
      case 'integer':
        return this.f.number(type === 'integer')
      case 'boolean':
        return this.f.literal([true, false])
      case 'null':
        return this.f.literal([null])
    }
  }

  private object(s: Schema, path: string, depth: number): GrammarNode {
    const props = s.properties ?? {}
    if (!isObject(props)) this.fail(`${path}/properties`, 'must be an object')
    const required = s.required === undefined ? [] : this.list(s.required, `${path}/required`)
    if (!required.every((r) => typeof r === 'string')) this.fail(`${path}/required`, 'must list strings')
    const declared = Object.entries(props as Schema)
    const members = declared.map(([key, value]) => ({
      key,
      value: this.compile(value, `${path}/properties/${escapePointer(key)}`, depth + 1),
      required: required.includes(key),
    }))
    // A required key the schema does not describe may hold any value.
    for (const key of new Set(required as string[]))
      if (!Object.hasOwn(props as Schema, key)) members.push({ key, value: this.f.any(), required: true })
    if (members.length) return this.f.object(members) // only declared keys: valid whatever additionalProperties says
    const extra = s.additionalProperties
    if (extra === false) return this.f.objectOf(null)
    return this.f.objectOf(
      extra === undefined || extra === true
        ? this.f.any()
        : this.compile(extra, `${path}/additionalProperties`, depth + 1),
    )
  }

  /** A reference into this schema (#, #/$defs/…, #/definitions/…), compiled once: cycles close on it. */
  private ref(ref: unknown, path: string, depth: number): GrammarNode {
    if (typeof ref !== 'string' || !(ref === '#' || ref.startsWith('#/')))
      this.fail(path, 'must point inside the schema ("#" or "#/$defs/…")')
    const key = ref as string
    const seen = this.refs.get(key)
    if (seen) return seen
    let target: unknown = this.root
    for (const part of key.split('/').slice(1)) {
      const name = part.replaceAll('~1', '/').replaceAll('~0', '~')
      if (Array.isArray(target) && /^(0|[1-9]\d*)$/.test(name) && Number(name) < target.length)
        target = target[Number(name)]
      else if (isObject(target) && Object.hasOwn(target as Schema, name)) target = (target as Schema)[name]
      else this.fail(path, `points nowhere (${key})`)
    }
    const node: UnionNode = { kind: 'union', id: this.f.id(), options: [] }
    this.refs.set(key, node)
    node.options.push(this.compile(target, key.slice(1), depth + 1))
    return node
  }

  private types(s: Schema, path: string): TypeName[] | undefined {
    if (s.type === undefined) return undefined
    const list = Array.isArray(s.type) ? s.type : [s.type]
    for (const t of list)
      if (!TYPES.includes(t as TypeName))
        this.fail(
          `${path}/type`,
          `has ${typeof t === 'string' ? JSON.stringify(t.slice(0, 40)) : typeof t}; types are ${TYPES.join(', ')}`,
        )
    if (list.length === 0) this.fail(`${path}/type`, 'is empty')
    // integer is a number: listing both means number.
    const set = new Set(list as TypeName[])
    if (set.has('number')) set.delete('integer')
    return [...set]
  }

  private count(s: Schema, key: string, path: string, fallback: number): number {
    const v = s[key]
    if (v === undefined) return fallback
    if (!(Number.isInteger(v) && (v as number) >= 0)) this.fail(`${path}/${key}`, 'must be an integer ≥ 0')
    return v as number
  }

  private list(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(path, 'must be a non-empty array')
    return v as unknown[]
  }

  private fail(path: string, what: string): never {
    throw schemaError(path, what)
  }
}

/** Without "type", the keywords say which type they constrain; other types stay open. */
function inferTypes(s: Schema): (TypeName | 'any')[] {
  if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined)
    return ['object']
  if (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined) return ['array']
  if (s.minLength !== undefined || s.maxLength !== undefined) return ['string']
  return ['any']
}

function hasType(v: unknown, t: TypeName): boolean {
  switch (t) {
    case 'object':
      return isObject(v)
    case 'array':
      return Array.isArray(v)
    case 'integer':
      return Number.isInteger(v)
    case 'null':
      return v === null
    default:
      return typeof v === t
  }
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1')
}
