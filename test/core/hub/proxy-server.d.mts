export interface ProxyServer {
  url: string
  port: number
  /** Every request the proxy was asked: CONNECT host:port, or the absolute URL. */
  log: { method: string; target: string }[]
  close(): Promise<void>
}
export function startProxy(opts?: { credentials?: string }): Promise<ProxyServer>
