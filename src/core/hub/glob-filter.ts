// --include / --exclude as Python's huggingface_hub applies them (fnmatch: `*` also crosses `/`,
// a pattern ending in `/` means everything under that folder).
function globToRegExp(pattern: string): RegExp {
  const p = pattern.endsWith('/') ? `${pattern}*` : pattern
  let re = ''
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '[') {
      const end = p.indexOf(']', i + 2)
      if (end < 0) re += '\\['
      else {
        let body = p.slice(i + 1, end)
        if (body.startsWith('!')) body = `^${body.slice(1)}`
        re += `[${body.replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 's')
}

export function makePathFilter(include?: string[], exclude?: string[]): (path: string) => boolean {
  const inc = (include ?? []).map(globToRegExp)
  const exc = (exclude ?? []).map(globToRegExp)
  return (path) => (inc.length === 0 || inc.some((r) => r.test(path))) && !exc.some((r) => r.test(path))
}
