// A stand-in for vLLM's `vllm` executable (test/server/vllm-engine.test.ts copies it onto PATH as
// `vllm`): it records the arguments and the API key variable it was given, and the signals it gets,
// in $STANDIN_RECORD (JSON), then acts as `vllm serve` does towards kiln: an HTTP server on --host
// and --port whose /health answers 503 while "loading", then 200, and whose /v1/models needs the
// VLLM_API_KEY bearer key and says the model's max_model_len. It logs a line on each stream, as
// vLLM does.
//
// STANDIN_MODE: serve (default); early-exit (prints a traceback and exits 3 before listening);
// ignore-term (records signals but keeps running). STANDIN_EXIT_CODE: status on SIGTERM/SIGINT.
const { writeFileSync } = require('node:fs')
const http = require('node:http')

const argv = process.argv.slice(2)
const record = {
  argv,
  vllmApiKey: process.env.VLLM_API_KEY ?? null,
  pid: process.pid,
  signals: [],
}
const save = () => writeFileSync(process.env.STANDIN_RECORD, JSON.stringify(record))
save()

const flag = (name) => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const mode = process.env.STANDIN_MODE ?? 'serve'

if (mode === 'early-exit') {
  process.stdout.write('INFO 01-01 00:00:00 api_server.py:1] vLLM API server version 0.0.0-stand-in\n')
  process.stderr.write('Traceback (most recent call last):\n  File "vllm/worker.py", line 1\n')
  process.stderr.write('RuntimeError: No CUDA GPUs are available\n')
  process.exit(3)
}

const loadedAt = Date.now() + 300
const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(Date.now() < loadedAt ? 503 : 200).end()
    return
  }
  if (req.url === '/v1/models') {
    const key = process.env.VLLM_API_KEY
    if (key && req.headers.authorization !== `Bearer ${key}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Unauthorized"}')
      return
    }
    const model = {
      id: flag('--served-model-name') ?? argv[1],
      object: 'model',
      max_model_len: Number(flag('--max-model-len') ?? 2048),
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ object: 'list', data: [model] }))
    return
  }
  res.writeHead(404).end()
})
server.listen(Number(flag('--port')), flag('--host'), () => {
  process.stdout.write(`INFO:     Uvicorn running on http://${flag('--host')}:${flag('--port')}\n`)
  process.stderr.write('WARNING stand-in: this is not vLLM\n')
})

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    record.signals.push(sig)
    save()
    if (mode === 'ignore-term') return
    server.close()
    process.exit(Number(process.env.STANDIN_EXIT_CODE ?? 0))
  })
}
