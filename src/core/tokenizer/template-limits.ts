// Limits on rendering a chat template. A template is a small program from a stranger's repo, and
// @huggingface/jinja runs it without bounds: a loop over range(10**9) or a string doubled in a
// loop takes the process down (V8 dies out of memory; no exception to catch). Its interpreter
// evaluates every node through Interpreter.prototype.evaluate, so that is where kiln counts: steps,
// nesting, the size of every value produced and the text produced in all, and the length of a
// range before it is built. The counters are live only inside guardedRender (rendering is
// synchronous, so one render at a time holds them).
import { Interpreter } from '@huggingface/jinja'

export const TEMPLATE_LIMITS = {
  /** Nodes evaluated: a chat costs tens per message; 500k is a couple of seconds at most. */
  steps: 500_000,
  /** Nested evaluations (macros calling themselves). */
  depth: 400,
  /** Characters in any one string, and items in any one list. */
  valueSize: 16 * 1024 * 1024,
  /** Characters of all the strings produced, together. */
  totalChars: 256 * 1024 * 1024,
}

/** Thrown inside the interpreter; the template's caller turns it into its own error. */
export class TemplateLimitError extends Error {}

interface Budget {
  steps: number
  depth: number
  chars: number
}

let budget: Budget | undefined

type Evaluate = (this: Interpreter, node: unknown, env: unknown) => { value: unknown }
type Node = { type?: string; callee?: { type?: string; value?: unknown }; args?: unknown[] }

const proto = Interpreter.prototype as unknown as {
  evaluate: Evaluate
  evaluateBlock: Evaluate
  evaluateArguments: (this: Interpreter, args: unknown[], env: unknown) => [{ value: unknown }[], unknown]
}
const evaluate = proto.evaluate
const evaluateBlock = proto.evaluateBlock

// A loop runs its body through evaluateBlock once per item: an empty body evaluates no node, so
// the iterations are counted here too.
proto.evaluateBlock = function counted(this: Interpreter, body: unknown, env: unknown) {
  if (budget && ++budget.steps > TEMPLATE_LIMITS.steps)
    throw new TemplateLimitError(`runs more than ${TEMPLATE_LIMITS.steps} steps`)
  return evaluateBlock.call(this, body, env)
}

proto.evaluate = function guarded(this: Interpreter, node: unknown, env: unknown) {
  const b = budget
  if (!b) return evaluate.call(this, node, env)
  const limits = TEMPLATE_LIMITS
  if (++b.steps > limits.steps) throw new TemplateLimitError(`runs more than ${limits.steps} steps`)
  if (b.depth >= limits.depth) throw new TemplateLimitError(`nests deeper than ${limits.depth} levels`)
  const n = node as Node
  if (n?.type === 'CallExpression' && n.callee?.type === 'Identifier' && n.callee.value === 'range')
    checkRange(proto.evaluateArguments.call(this, n.args ?? [], env)[0].map((a) => a.value))
  b.depth++
  let result: { value: unknown }
  try {
    result = evaluate.call(this, node, env)
  } finally {
    b.depth--
  }
  const v = result?.value
  const size = typeof v === 'string' || Array.isArray(v) ? v.length : 0
  if (size > limits.valueSize)
    throw new TemplateLimitError(`makes a value of more than ${limits.valueSize} items`)
  if (typeof v === 'string') {
    b.chars += v.length
    if (b.chars > limits.totalChars)
      throw new TemplateLimitError(`produces more than ${limits.totalChars} characters`)
  }
  return result
}

/** range(stop) / range(start, stop[, step]) of more than valueSize numbers is refused before it is built. */
function checkRange(args: unknown[]): void {
  const nums = args.filter((a): a is number => typeof a === 'number')
  if (nums.length !== args.length || nums.length === 0) return // the interpreter reports what is wrong
  const [start, stop, step] = nums.length === 1 ? [0, nums[0], 1] : [nums[0], nums[1], nums[2] ?? 1]
  if (step === 0) return
  const count = Math.ceil((stop - start) / step)
  if (count > TEMPLATE_LIMITS.valueSize)
    throw new TemplateLimitError(
      `asks for a range of ${count} numbers (at most ${TEMPLATE_LIMITS.valueSize})`,
    )
}

/** Runs `render` with the limits on (nested calls share the outer budget). */
export function guardedRender<T>(render: () => T): T {
  if (budget) return render()
  budget = { steps: 0, depth: 0, chars: 0 }
  try {
    return render()
  } finally {
    budget = undefined
  }
}
