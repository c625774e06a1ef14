// Runs the wizard on the terminal. ink and react are imported here, on demand, so no other command
// pays for loading them.
import type { TypedKey } from '../settings/types.js'
import type { Answers, WizardResult } from './wizard.js'

export async function runWizard(opts: {
  keys: TypedKey[]
  initial: Answers
  path: string
  exists: boolean
  color: boolean
}): Promise<WizardResult> {
  // ink colours through chalk, which reads FORCE_COLOR (not NO_COLOR) when it is first imported.
  if (!opts.color) process.env.FORCE_COLOR = '0'
  const [{ render }, { createElement }, { ConfigWizard }] = await Promise.all([
    import('ink'),
    import('react'),
    import('./wizard.js'),
  ])
  let result: WizardResult = { confirmed: false }
  const app = render(createElement(ConfigWizard, { ...opts, onDone: (r) => (result = r) }), {
    exitOnCtrlC: true,
  })
  await app.waitUntilExit()
  return result
}
