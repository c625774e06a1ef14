// Bearer API key check for every route but the probes (/health, /metrics). Both keys are hashed
// first so timingSafeEqual compares equal lengths and the time taken says nothing about the key.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { HttpError } from './errors.js'

/** Routes a load balancer or Prometheus reads without a key. */
export const OPEN_PATHS = new Set(['/health', '/metrics'])

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()

/** The check for `apiKey`: throws a 401 unless the request carries it. */
export function bearerCheck(apiKey: string): (request: FastifyRequest) => void {
  const expected = digest(apiKey)
  return (request) => {
    if (OPEN_PATHS.has(pathOf(request.url))) return
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null
    if (!match)
      throw new HttpError(
        401,
        'missing API key: send it as "Authorization: Bearer <key>"',
        null,
        'invalid_api_key',
        {
          'www-authenticate': 'Bearer',
        },
      )
    if (!timingSafeEqual(digest(match[1]), expected))
      throw new HttpError(401, 'incorrect API key', null, 'invalid_api_key', { 'www-authenticate': 'Bearer' })
  }
}

/** The path of a request URL, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}
