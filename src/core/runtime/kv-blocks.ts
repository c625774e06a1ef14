// The paged KV cache's block pool, as vLLM keeps it: fixed-size blocks allocated once, reference
// counted, handed to sequences as they grow. A full block whose tokens are known gets a hash of its
// tokens and of every token before it; when its last user lets go it stays cached (least recently
// freed evicted first), so a later prompt with the same prefix takes the block instead of
// recomputing it.
import { createHash } from 'node:crypto'

/** The hash of a full block: its token ids, chained to the hash of the blocks before it. */
export function blockHash(parent: string, ids: ArrayLike<number>): string {
  return createHash('sha256').update(parent).update(Int32Array.from(ids)).digest('hex')
}

export class BlockPool {
  private readonly refs: Int32Array
  private readonly free: number[]
  /** Cached blocks nobody holds, oldest first (a Set keeps insertion order). */
  private readonly idle = new Set<number>()
  private readonly byHash = new Map<string, number>()
  private readonly hashOf: (string | undefined)[]
  private held = 0

  constructor(readonly size: number) {
    this.refs = new Int32Array(size)
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i)
    this.hashOf = new Array(size)
  }

  /** Blocks some sequence holds. */
  get used(): number {
    return this.held
  }

  /** Blocks an allocation can take: never used, or cached but idle. */
  get available(): number {
    return this.free.length + this.idle.size
  }

  /** A block for one holder, or undefined when none is left. Evicts the oldest idle cached block. */
  allocate(): number | undefined {
    let b = this.free.pop()
    if (b === undefined) {
      const oldest = this.idle.values().next()
      if (oldest.done) return undefined
      b = oldest.value
      this.idle.delete(b)
      this.byHash.delete(this.hashOf[b] as string)
      this.hashOf[b] = undefined
    }
    this.refs[b] = 1
    this.held++
    return b
  }

  /** The cached block with this hash, now held once more; undefined when not cached. */
  take(hash: string): number | undefined {
    const b = this.byHash.get(hash)
    if (b === undefined) return undefined
    if (this.refs[b] === 0) {
      this.idle.delete(b)
      this.held++
    }
    this.refs[b]++
    return b
  }

  /** Marks a full, computed block as holding the tokens `hash` names (first one wins). */
  register(b: number, hash: string): void {
    if (this.hashOf[b] !== undefined || this.byHash.has(hash)) return
    this.hashOf[b] = hash
    this.byHash.set(hash, b)
  }

  release(b: number): void {
    if (this.refs[b] <= 0) throw new Error(`KV block ${b} released more often than held`)
    if (--this.refs[b] > 0) return
    this.held--
    if (this.hashOf[b] !== undefined) this.idle.add(b)
    else this.free.push(b)
  }

  /** Blocks held by nobody that still hold a cached prefix. */
  get cachedIdle(): number {
    return this.idle.size
  }
}
