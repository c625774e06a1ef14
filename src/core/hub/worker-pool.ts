// Runs `fn` over items with at most `n` in flight. After a failure no new item starts; the ones in
// flight finish (their bytes are useful to a later resume), then the first error is thrown.
export async function runPool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++]
      try {
        await fn(item)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker))
  if (failure) throw failure.error
}
