// A load generator for OpenAI-compatible servers: N clients at once, each one streaming
// /v1/completions request; per request the time to the first token, the gaps between tokens, and
// the tokens generated (from the usage chunk, else the token chunks).
import { readFileSync } from 'node:fs'

/** Waits until GET url/health answers 200 (or throws after timeoutMs). */
export async function waitHealthy(base, timeoutMs = 120_000) {
  const t0 = Date.now()
  for (;;) {
    try {
      const r = await fetch(`${base}/health`)
      if (r.status === 200) return
    } catch {}
    if (Date.now() - t0 > timeoutMs) throw new Error(`${base} not healthy after ${timeoutMs} ms`)
    await new Promise((res) => setTimeout(res, 200))
  }
}

async function oneStream(base, body, headers) {
  const t0 = performance.now()
  const r = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  if (r.status !== 200) throw new Error(`${r.status}: ${await r.text()}`)
  const times = []
  let usage
  let buf = ''
  const decoder = new TextDecoder()
  for await (const part of r.body) {
    buf += decoder.decode(part, { stream: true })
    let at = buf.indexOf('\n\n')
    while (at >= 0) {
      const event = buf.slice(0, at)
      buf = buf.slice(at + 2)
      at = buf.indexOf('\n\n')
      const data = event.replace(/^data: ?/, '')
      if (data === '[DONE]') continue
      const j = JSON.parse(data)
      if (j.usage) usage = j.usage
      // A token's chunk: a choice not yet finished (llama-server sends one per token even when its
      // text is empty; kiln sends one per token with text).
      if (j.choices?.length && j.choices[0].finish_reason == null) times.push(performance.now())
    }
  }
  const gaps = times.slice(1).map((t, i) => t - times[i])
  return {
    ttft: times.length ? times[0] - t0 : Number.NaN,
    gaps,
    tokens: usage?.completion_tokens ?? times.length,
    start: t0,
    end: performance.now(),
  }
}

const quantile = (xs, q) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/**
 * N concurrent streams of a prompt (token ids, varied per client so no two share a prefix) for
 * `newTokens` tokens each, EOS ignored. Returns aggregate tokens/s and TTFT / ITL quantiles (ms).
 */
export async function loadRound(
  base,
  { clients, promptTokens, newTokens, vocab, model, headers = {}, shared = 0, salt = 0 },
) {
  // The first `shared` ids are the same for every client and round; the rest differ by client and salt.
  const prompt = (c) =>
    Array.from({ length: promptTokens }, (_, j) =>
      j < shared ? (j * 7919 + 13) % vocab : ((j + c * 131 + salt * 977) * 7919 + 17) % vocab,
    )
  const runs = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      oneStream(
        base,
        {
          model,
          prompt: prompt(c),
          max_tokens: newTokens,
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
          ignore_eos: true,
        },
        headers,
      ),
    ),
  )
  const start = Math.min(...runs.map((r) => r.start))
  const end = Math.max(...runs.map((r) => r.end))
  const tokens = runs.reduce((n, r) => n + r.tokens, 0)
  const ttft = runs.map((r) => r.ttft)
  const gaps = runs.flatMap((r) => r.gaps)
  return {
    tokensPerS: (tokens / (end - start)) * 1000,
    tokens,
    ttftP50: quantile(ttft, 0.5),
    ttftP99: quantile(ttft, 0.99),
    itlP50: quantile(gaps, 0.5),
    itlP99: quantile(gaps, 0.99),
  }
}

/** Peak resident memory of a process (VmHWM), MB. */
export function peakRssMb(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : Number.NaN
}
