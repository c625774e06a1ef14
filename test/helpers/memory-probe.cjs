// Loaded into a child kiln process with NODE_OPTIONS="--expose-gc --require <this file>" by tests
// that check a command's memory: every 250 ms (a timer that does not keep the process alive) it
// runs a full collection and appends what is still live (heap, array buffers) as one JSON line to
// $KILN_TEST_MEMORY_PROBE. After a full collection the numbers are what the command holds, whatever
// the machine's load or the collector's timing (unlike the resident size).
const fs = require('node:fs')

const out = process.env.KILN_TEST_MEMORY_PROBE
if (out) {
  setInterval(() => {
    globalThis.gc()
    const m = process.memoryUsage()
    fs.appendFileSync(out, `${JSON.stringify({ heap: m.heapUsed, buffers: m.arrayBuffers })}\n`)
  }, 250).unref()
}
