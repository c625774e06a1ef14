// GET /health (200 while serving, 503 once draining: load balancers stop sending) and GET /metrics
// (Prometheus text). Both are open without an API key.
import type { FastifyInstance } from 'fastify'
import type { BaseContext } from '../context.js'

export function probeRoutes(app: FastifyInstance, ctx: BaseContext): void {
  app.get('/health', async (_request, reply) => {
    if (ctx.control.draining) return reply.code(503).send({ status: 'draining' })
    return { status: 'ok' }
  })
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await ctx.metrics.scrape()
    return reply.header('content-type', contentType).send(text)
  })
}
