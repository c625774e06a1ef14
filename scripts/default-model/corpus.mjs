// The default model's text: the King James Bible as shipped in kjv.txt.gz (see SOURCE.md), one verse
// a line, `Ge1:1 In the beginning …`. Chapters are the unit of the split and of the training records.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

export const CORPUS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kjv.txt.gz')

/** Every chapter in Bible order: { ref: 'Ge1', verses: ['In the beginning …', …] }. */
export function readChapters(file = CORPUS_FILE) {
  const chapters = []
  for (const line of gunzipSync(readFileSync(file)).toString('utf8').split('\n')) {
    if (line === '') continue
    const m = /^(\d?[A-Za-z]+)(\d+):(\d+) (.+)$/.exec(line)
    if (!m) throw new Error(`kjv.txt.gz: unexpected line ${JSON.stringify(line.slice(0, 40))}`)
    const ref = `${m[1]}${m[2]}`
    if (chapters.at(-1)?.ref !== ref) chapters.push({ ref, verses: [] })
    chapters.at(-1).verses.push(m[4])
  }
  return chapters
}

/**
 * The held-out 10%: every tenth chapter (the 10th, 20th, … of the 1189). Whole chapters, so no verse
 * of a held-out passage has its neighbours in training; spread over every part of the Bible, so the
 * held-out text has the same mix of law, history, poetry, prophecy and letters as the training text
 * (the last 10% of the books would be all letters and Revelation).
 */
export function splitChapters(chapters) {
  return {
    train: chapters.filter((_, i) => i % 10 !== 9),
    heldOut: chapters.filter((_, i) => i % 10 === 9),
  }
}

/** A chapter as prose: its verses joined by single spaces. */
export const chapterText = (c) => c.verses.join(' ')

/**
 * Cuts chapters into training records of at most `maxTokens` tokens (EOS included, which finetune
 * appends), whole verses at a time; a verse longer than a record on its own is cut between tokens.
 * Returns [{ text, ids }]. The held-out text is cut the same way, so evaluation sees what training saw.
 */
export function chunkChapters(chapters, tokenizer, maxTokens) {
  const room = maxTokens - 1
  const out = []
  const encode = (s) => tokenizer.encode(s, { addSpecialTokens: false })
  for (const c of chapters) {
    let verses = []
    const flush = () => {
      if (verses.length === 0) return
      const text = verses.join(' ')
      const ids = encode(text)
      for (let s = 0; s < ids.length; s += room) {
        const part = ids.slice(s, s + room)
        out.push({ text: s === 0 && part.length === ids.length ? text : tokenizer.decode(part), ids: part })
      }
      verses = []
    }
    for (const v of c.verses) {
      if (verses.length > 0 && encode([...verses, v].join(' ')).length > room) flush()
      verses.push(v)
    }
    flush()
  }
  return out
}
