// kiln serve --adapter NAME=DIR: LoRA adapters served beside their base, each a model of its own
// that requests name; requests for different adapters (and the base) share one batch, and each gets
// what its adapter alone gives (checked against loadModel(base, { adapter }) through the library).
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadModel } from '../../src/core/runtime/model.js'
import { golden } from '../helpers/fixtures.js'
import { SERVED, startServer, type TestServer } from '../helpers/server.js'

const trained = path.join(golden('lora'), 'adapter_after_5_steps')
let server: TestServer

beforeAll(async () => {
  server = await startServer({ modelPath: golden('llama-tiny'), adapters: { 'tiny-lora': trained } })
})
afterAll(async () => {
  await server?.close()
})

/** The library's greedy text for a prompt, with the adapter applied to every row or not at all. */
async function libraryText(prompt: string, adapter?: string): Promise<string> {
  const m = loadModel(golden('llama-tiny'), { threads: 1, adapter })
  try {
    const it = m.generate(prompt, { temperature: 0, maxNewTokens: 12 })
    let step = await it.next()
    while (!step.done) step = await it.next()
    return step.value.text
  } finally {
    m.dispose()
  }
}

describe('LoRA adapters as models', () => {
  it('/v1/models lists the base and each adapter, whose parent is the base', async () => {
    const list = await server.client.models.list()
    expect(list.data.map((m) => [m.id, (m as { parent?: string }).parent])).toEqual([
      [SERVED, undefined],
      ['tiny-lora', SERVED],
    ])
    expect((await server.client.models.retrieve('tiny-lora')).id).toBe('tiny-lora')
  })

  it('a request naming the adapter gets its output; the base and the adapter run side by side', async () => {
    const prompts = ['Once upon a time', 'The cat sat on', 'Hello there', 'One two three']
    const want = await Promise.all(
      prompts.map(async (p, i) => libraryText(p, i % 2 === 0 ? trained : undefined)),
    )
    expect(want[0]).not.toBe(await libraryText(prompts[0]))
    const got = await Promise.all(
      prompts.map(async (prompt, i) => {
        const model = i % 2 === 0 ? 'tiny-lora' : SERVED
        const r = await server.client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 })
        expect(r.model).toBe(model)
        return r.choices[0].text
      }),
    )
    expect(got).toEqual(want)
  })

  it('streams a chat with the adapter, naming it as the model of every chunk', async () => {
    const stream = await server.client.chat.completions.create({
      model: 'tiny-lora',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 4,
      temperature: 0,
      stream: true,
    })
    const models = new Set<string>()
    for await (const chunk of stream) models.add(chunk.model)
    expect([...models]).toEqual(['tiny-lora'])
  })

  it('an unknown model is a 404 naming what the server serves', async () => {
    await expect(
      server.client.completions.create({ model: 'other-lora', prompt: 'x', max_tokens: 1 }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
      message: expect.stringContaining(`This server serves \`${SERVED}\` and its adapters \`tiny-lora\`.`),
    })
  })
})
