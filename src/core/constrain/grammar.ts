// The grammar that constrained decoding follows: a graph of JSON value nodes compiled from a JSON
// schema (json-schema.ts) or standing for "any JSON object" (OpenAI's json_object). The byte
// matcher (json-matcher.ts) walks it; nodes are shared and may be cyclic ($ref recursion).

/** A JSON value of some shape. `id` names the node in matcher state keys. */
export type GrammarNode = ObjectNode | ArrayNode | StringNode | NumberNode | LiteralNode | UnionNode

export interface ObjectNode {
  kind: 'object'
  id: number
  /** Declared members, generated in this order; optional ones may be left out. */
  props: Prop[]
  /** firstRequired[i]: index of the first required member at or after i (props.length if none). */
  firstRequired: number[]
  /** With no declared members: the value of any key (null: the object must be empty). */
  extra: GrammarNode | null
}

export interface Prop {
  /** The key as JSON writes it, without the opening quote, with the closing one, as UTF-8. */
  key: Uint8Array
  value: GrammarNode
  required: boolean
}

export interface ArrayNode {
  kind: 'array'
  id: number
  items: GrammarNode
  min: number
  max: number
}

export interface StringNode {
  kind: 'string'
  id: number
  /** Length bounds in code points (Infinity: none). */
  min: number
  max: number
}

export interface NumberNode {
  kind: 'number'
  id: number
  integer: boolean
}

/** One of a few exact JSON texts (enum, const, true/false/null), as UTF-8. */
export interface LiteralNode {
  kind: 'literal'
  id: number
  options: Uint8Array[]
}

export interface UnionNode {
  kind: 'union'
  id: number
  options: GrammarNode[]
}

export interface Grammar {
  root: GrammarNode
}

const utf8 = new TextEncoder()

/** Builds nodes with fresh ids (ids are per grammar: state keys never mix grammars). */
export class NodeFactory {
  private next = 0

  id(): number {
    return this.next++
  }

  literal(values: unknown[]): LiteralNode {
    return { kind: 'literal', id: this.id(), options: values.map((v) => utf8.encode(JSON.stringify(v))) }
  }

  string(min = 0, max = Number.POSITIVE_INFINITY): StringNode {
    return { kind: 'string', id: this.id(), min, max }
  }

  number(integer: boolean): NumberNode {
    return { kind: 'number', id: this.id(), integer }
  }

  /** Any JSON value (objects and arrays of any JSON values, nested). */
  any(): UnionNode {
    const any: UnionNode = { kind: 'union', id: this.id(), options: [] }
    any.options.push(
      this.objectOf(any),
      { kind: 'array', id: this.id(), items: any, min: 0, max: Number.POSITIVE_INFINITY },
      this.string(),
      this.number(false),
      this.literal([true, false, null]),
    )
    return any
  }

  /** An object with any keys whose values are `value`. */
  objectOf(value: GrammarNode | null): ObjectNode {
    return { kind: 'object', id: this.id(), props: [], firstRequired: [0], extra: value }
  }

  object(props: { key: string; value: GrammarNode; required: boolean }[]): ObjectNode {
    const list: Prop[] = props.map((p) => ({
      key: utf8.encode(JSON.stringify(p.key).slice(1)),
      value: p.value,
      required: p.required,
    }))
    const firstRequired = new Array<number>(list.length + 1)
    firstRequired[list.length] = list.length
    for (let i = list.length - 1; i >= 0; i--) firstRequired[i] = list[i].required ? i : firstRequired[i + 1]
    return { kind: 'object', id: this.id(), props: list, firstRequired, extra: null }
  }
}

/** OpenAI's json_object: any JSON object. */
export function jsonObjectGrammar(): Grammar {
  const f = new NodeFactory()
  return { root: f.objectOf(f.any()) }
}
