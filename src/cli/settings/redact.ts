// Secrets (tokens, API keys) are never printed in full: enough of the end to tell two apart.

export function redact(secret: string): string {
  return secret.length >= 16 ? `****${secret.slice(-4)}` : '****'
}
