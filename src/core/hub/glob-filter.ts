// Glob patterns over repo paths. --include / --exclude as Python's huggingface_hub applies them
// (fnmatch: `*` also crosses `/`, a pattern ending in `/` means everything under that folder), and
// datasets' data_files as the Hub's file system globs them (`*` within a folder, `**` across).

/** A glob as a RegExp over whole paths; `folders`: `*` and `?` stop at `/` and `**` crosses it. */
export function globRegExp(pattern: string, folders = false): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*' && folders && pattern[i + 1] === '*') {
      i++
      if (pattern[i + 1] === '/') {
        i++
        re += '(?:.*/)?'
      } else re += '.*'
    } else if (c === '*') re += folders ? '[^/]*' : '.*'
    else if (c === '?') re += folders ? '[^/]' : '.'
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) re += '\\['
      else {
        let body = pattern.slice(i + 1, end)
        if (body.startsWith('!')) body = `^${body.slice(1)}`
        re += `[${body.replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 's')
}

// fnmatch, with a trailing `/` for a whole folder.
function globToRegExp(pattern: string): RegExp {
  return globRegExp(pattern.endsWith('/') ? `${pattern}*` : pattern)
}

export function makePathFilter(include?: string[], exclude?: string[]): (path: string) => boolean {
  const inc = (include ?? []).map(globToRegExp)
  const exc = (exclude ?? []).map(globToRegExp)
  return (path) => (inc.length === 0 || inc.some((r) => r.test(path))) && !exc.some((r) => r.test(path))
}
