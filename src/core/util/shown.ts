// How a value read from a file or a request appears in an error message: on one line, bounded in
// length and depth whatever it holds. JSON.stringify is neither: a string's line breaks survive
// as text only when quoted, a 10,000-deep array overflows the stack, and a 100 MB string is echoed
// whole. Values are walked without recursion, so no input can overflow the stack here.

/** Characters of a message a value may take (a longer value ends in …). */
const MAX_CHARS = 80

/**
 * `value` as JSON would spell it, cut at `max` characters (then …): strings quoted with their
 * control characters escaped, arrays and objects to the depth that fits, bigints as 12n.
 */
export function shown(value: unknown, max = MAX_CHARS): string {
  let out = ''
  // A stack of pieces still to print: literal text, or a value.
  const stack: Array<{ text: string } | { value: unknown }> = [{ value }]
  while (stack.length > 0 && out.length <= max) {
    const piece = stack.pop() as { text: string } | { value: unknown }
    if ('text' in piece) {
      out += piece.text
      continue
    }
    const v = piece.value
    if (Array.isArray(v)) {
      out += '['
      stack.push({ text: ']' })
      // Only as many items as could still be seen are pushed (an array may hold millions).
      const room = Math.max(0, max - out.length)
      for (let i = Math.min(v.length, room) - 1; i >= 0; i--) {
        stack.push({ value: v[i] })
        if (i > 0) stack.push({ text: ',' })
      }
    } else if (v !== null && typeof v === 'object') {
      out += '{'
      stack.push({ text: '}' })
      const keys: string[] = []
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue
        if (keys.length > max) break
        keys.push(k)
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: (v as Record<string, unknown>)[keys[i]] })
        stack.push({ text: `${quote(keys[i], Math.max(1, max - out.length))}:` })
        if (i > 0) stack.push({ text: ',' })
      }
    } else out += scalar(v, Math.max(1, max - out.length))
  }
  // A string cut short already ends in …" (and may pass `max` by its quotes).
  return stack.length > 0 ? `${out.slice(0, max)}…` : out
}

/** Characters of a name (tensor, key, file) quoted in a message: real ones are far shorter. */
const MAX_NAME_CHARS = 200

/** A string as a JSON string literal, escaping line breaks and other control characters, cut short. */
export function quote(s: string, max = MAX_NAME_CHARS): string {
  // Only the part that can be seen is escaped (the string may be hundreds of megabytes).
  const q = JSON.stringify(s.length > max ? s.slice(0, max) : s)
    // JSON leaves U+2028/U+2029 raw; terminals and some log readers break lines on them.
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
  return s.length > max ? `${q.slice(0, -1)}…"` : q
}

function scalar(v: unknown, max: number): string {
  switch (typeof v) {
    case 'string':
      return quote(v, max)
    case 'bigint':
      return `${v}n`
    case 'number':
    case 'boolean':
      return String(v)
    case 'undefined':
      return 'undefined'
    default:
      return v === null ? 'null' : typeof v
  }
}
