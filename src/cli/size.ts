// Byte sizes as people write them on a command line: 2GiB, 512MiB, 1.5G, 800MB, 1048576.
import { UsageError } from '../core/errors.js'

// KB/MB/GB are decimal, KiB/MiB/GiB binary; a bare K/M/G is binary, as Docker and Node read it.
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kb: 1e3,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 1e6,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 1e9,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 1e12,
  tib: 2 ** 40,
}

/** Bytes of `text` ("2GiB"), or a UsageError naming `flag`. */
export function parseSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined
  if (!m || unit === undefined)
    throw new UsageError(`${flag} must be a size such as 2GiB, 512MiB or 800MB (got ${JSON.stringify(text)})`)
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!(bytes >= 1 && Number.isSafeInteger(bytes)))
    throw new UsageError(`${flag} is out of range (got ${text})`)
  return bytes
}
