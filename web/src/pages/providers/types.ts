/** Shapes of the admin provider API: the server's own schemas (src/gateway/admin-model.ts), imported as types only. */
import type {
  CatalogModelSchema,
  ModelSettingsBody,
  ProviderKindSchema,
  ProviderTestSchema,
  ProviderViewSchema,
} from '../../../../src/gateway/admin-model.ts'

export type ProviderKind = typeof ProviderKindSchema.static
export type ProviderView = typeof ProviderViewSchema.static
export type ModelSettingsInput = typeof ModelSettingsBody.static
export type CatalogModel = typeof CatalogModelSchema.static
export type TestResult = typeof ProviderTestSchema.static

export const PROVIDERS = '/api-internal/v1/llm/providers'
export const CATALOG = '/api-internal/v1/llm/model-catalog'
/** Model ids may contain slashes; each segment is encoded, the slashes kept (the route is a wildcard). */
export const settingsPath = (id: string) => `/api-internal/v1/llm/model-settings/${id.split('/').map(encodeURIComponent).join('/')}`
