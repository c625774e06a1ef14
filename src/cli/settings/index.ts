// kiln's settings: one YAML file, a zod schema, and flag > env > file > default for every key.
export { detectedDefaults } from './detect.js'
export { findKey, type SettingKey, settingKeys } from './keys.js'
export { type LoadedSettings, loadSettings, loadSettingsDocument } from './load.js'
export { settingsPath } from './location.js'
export { redact } from './redact.js'
export {
  type FlagValue,
  type ResolveContext,
  type ResolvedSetting,
  resolveAll,
  resolveSetting,
  type SettingSource,
  shownValue,
} from './resolve.js'
export { SETTINGS_VERSION, sections, settingsFileSchema } from './schema.js'
export { type SettingTypes, settingTypes, type TypedKey, typedKey } from './types.js'
export { checkValue, fromText, parseText, requireKey } from './values.js'
export { editSettings, writeSettings } from './write.js'
