// A reader for the small part of YAML that settings files use, so that reading a file edited by
// hand does not load the `yaml` package (about 60 ms of the 150 ms start-up budget):
//
//   # comments, blank lines
//   version: 1
//   section:            # a mapping of scalars, children indented alike
//     key: value        # plain, 'single' or "double" quoted (no escapes), resolved as YAML 1.2's
//                       # core schema does (null, true/false, ints, floats, else a string)
//
// It never reports an error: anything else (tabs, CRLF, flow or block collections, anchors, tags,
// multi-line scalars, escapes, duplicate keys, documents markers …) gives undefined, and the caller
// parses the text with `yaml`, which decides and gives the message. test/cli/settings/simple-yaml.test.ts
// checks it against `yaml` on thousands of generated files.

export interface SimpleScalar {
  /** As the core schema resolves it: null, boolean, number or string. */
  value: null | boolean | number | string
  /** The text as written, for plain scalars (what yaml's Scalar.source holds). */
  source?: string
}

export interface SimpleDocument {
  /** Top-level scalars (`version: 1`). */
  scalars: Map<string, SimpleScalar>
  /** Top-level mappings; null for a section written with no value (`hub:`). */
  sections: Map<string, Map<string, SimpleScalar> | null>
}

const KEY = /^([A-Za-z_][A-Za-z0-9_]*):(?: +(.*))?$/
// A plain scalar may not start with an indicator; '-' only when a number follows.
const PLAIN_START = /^(?:[^-?:,[\]{}#&*!|>'"%@`\s]|-[0-9.])/

/** The core schema's resolution of a plain scalar (yaml's schema/core and schema/common). */
function resolvePlain(text: string): SimpleScalar['value'] | undefined {
  if (/^(?:~|[Nn]ull|NULL)$/.test(text)) return null
  if (/^(?:[Tt]rue|TRUE)$/.test(text)) return true
  if (/^(?:[Ff]alse|FALSE)$/.test(text)) return false
  if (/^[-+]?[0-9]+$/.test(text)) return Number.parseInt(text, 10)
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8)
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16)
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(text)) return Number.parseFloat(text)
  if (/^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$/.test(text)) return undefined // left to yaml
  return text
}

/** What follows a quoted scalar must be nothing or a comment. */
const restIsComment = (rest: string) => /^(?: +#.*)? *$/.test(rest)

/** The value after `key: ` (comment included); undefined when outside the subset. */
function readScalar(text: string): SimpleScalar | undefined {
  if (text.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'(.*)$/.exec(text)
    if (!m || !restIsComment(m[2])) return undefined
    return { value: m[1].replaceAll("''", "'") }
  }
  if (text.startsWith('"')) {
    const m = /^"([^"\\]*)"(.*)$/.exec(text)
    if (!m || !restIsComment(m[2])) return undefined
    return { value: m[1] }
  }
  // A comment starts at " #"; the scalar ends before it, trailing spaces dropped.
  const hash = text.indexOf(' #')
  const plain = (hash < 0 ? text : text.slice(0, hash)).replace(/ +$/, '')
  if (!PLAIN_START.test(plain) || plain.includes(': ') || plain.endsWith(':')) return undefined
  const value = resolvePlain(plain)
  return value === undefined ? undefined : { value, source: plain }
}

/** Blank lines and comment lines (a '#' after nothing but spaces). */
const isBlank = (line: string) => /^ *(?:#.*)?$/.test(line)

export function readSimpleYaml(text: string): SimpleDocument | undefined {
  // Tabs, CR, BOM, control characters and Unicode line breaks are yaml's to judge.
  if (/[\x00-\x09\x0b-\x1f\x7f\x85\uFEFF\u2028\u2029]/.test(text)) return undefined
  const doc: SimpleDocument = { scalars: new Map(), sections: new Map() }
  let open: Map<string, SimpleScalar> | undefined // the section whose children come next
  let indent = 0 // its children's indentation, once the first one is seen
  for (const line of text.split('\n')) {
    if (isBlank(line)) continue
    const lead = line.length - line.trimStart().length
    const m = KEY.exec(line.slice(lead))
    if (!m) return undefined
    const [, name, rest = ''] = m
    if (resolvePlain(name) !== name) return undefined // `true:` or `null:` are not string keys
    const value = rest === '' || /^#/.test(rest) ? undefined : readScalar(rest)
    if (value === undefined && rest !== '' && !rest.startsWith('#')) return undefined
    if (lead === 0) {
      if (doc.scalars.has(name) || doc.sections.has(name)) return undefined
      if (value !== undefined && value.value !== null) {
        doc.scalars.set(name, value)
        open = undefined
      } else {
        open = new Map()
        indent = 0
        doc.sections.set(name, value === undefined ? open : null)
        if (value !== undefined) open = undefined // `section: ~` takes no children
      }
      continue
    }
    if (!open || (indent !== 0 && lead !== indent) || open.has(name)) return undefined
    indent = lead
    open.set(name, value ?? { value: null })
  }
  // A section line with no children is a null section, as yaml reads it.
  for (const [name, keys] of doc.sections) if (keys && keys.size === 0) doc.sections.set(name, null)
  return doc
}
