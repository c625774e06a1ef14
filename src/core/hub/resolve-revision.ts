// Step 1 of the Hub protocol: a branch, tag or commit → the commit it names (the revision API).
import { datasetInfo, modelInfo } from '@huggingface/hub'
import { KilnError } from '../errors.js'
import { HubError } from './errors.js'
import type { ErrorContext } from './hub-errors-map.js'
import { API_TIMEOUT_MS, hubFetch } from './hub-fetch.js'
import type { RepoRef } from './repo-id.js'

export async function resolveRevision(
  repo: RepoRef,
  revision: string,
  endpoint: string,
  token: string | undefined,
  timeoutMs: number = API_TIMEOUT_MS,
): Promise<string> {
  const ctx: ErrorContext = { repo, endpoint, revision, tokenGiven: !!token }
  const params = { name: repo.name, revision, hubUrl: endpoint, fetch: hubFetch(ctx, token, timeoutMs) }
  let info: unknown
  try {
    info =
      repo.type === 'dataset'
        ? await datasetInfo({ ...params, additionalFields: ['sha'] })
        : await modelInfo({ ...params, additionalFields: ['sha'] })
  } catch (e) {
    if (e instanceof KilnError) throw e
    // The library read an answer that is not the JSON object it expects (text, null, an array).
    throw new HubError('E_HUB', `${endpoint} gave a malformed answer for ${repo.name}@${revision}`)
  }
  const sha = (info as { sha?: unknown }).sha
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha))
    throw new HubError('E_HUB', `${endpoint} gave no commit for ${repo.name}@${revision}`)
  return sha
}
