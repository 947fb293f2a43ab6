import { BasePlugin, type PluginContext } from 'enclava:plugin'

const DEFAULT_GREETING = 'Hello'
const MAX_NAME = 50

async function greeting(ctx: PluginContext): Promise<string> {
  // Settings saved before `greeting` existed, or an empty form, have no value: fall back to the schema's default.
  const value = await ctx.config.get('greeting')
  return typeof value === 'string' && value.trim() !== '' ? value : DEFAULT_GREETING
}

/**
 * Read-modify-write without a lock: two concurrent calls may count once. Good enough for a counter; a plugin that
 * needs exact counts keeps one key per event instead. A public route must not fail because its counter could not
 * be written (the platform limits kv writes per second): the greeting is the point, so the count is then null.
 */
async function countCall(ctx: PluginContext): Promise<number | null> {
  try {
    const previous = await ctx.kv.get('calls')
    const calls = (typeof previous === 'number' && Number.isFinite(previous) ? previous : 0) + 1
    await ctx.kv.set('calls', calls)
    return calls
  } catch (err) {
    await ctx.log('warn', `the call counter was not updated: ${(err as Error).message}`)
    return null
  }
}

/** `GET /hello?name=Ada` for anyone; `GET /me` for callers with an API key; `execute` with {name}; the tool `greet` for agents. */
export default class Hello extends BasePlugin {
  override name = 'hello'
  override version = '1.0.0'

  override routes = {
    'GET /hello': async (req: Request, ctx: PluginContext) => {
      const name = (new URL(req.url).searchParams.get('name') ?? '').trim() || 'world'
      if (name.length > MAX_NAME)
        return Response.json({ error: { code: 'bad_request', message: `name is longer than ${MAX_NAME} characters` } }, { status: 400 })
      return { message: `${await greeting(ctx)}, ${name}!`, calls: await countCall(ctx) }
    },

    'GET /me': async (_req: Request, ctx: PluginContext) => {
      // The platform runs api_key routes only for a verified key; the check keeps the handler honest if the route
      // is ever declared public by mistake (public callers have user_id null).
      const identity = ctx.identity
      if (identity === null || identity.source !== 'api')
        return Response.json({ error: { code: 'unauthorized', message: 'this route needs an API key' } }, { status: 401 })
      return {
        message: `${await greeting(ctx)}, user ${identity.user_id}!`,
        user_id: identity.user_id,
        api_key_id: identity.api_key_id,
        source: identity.source,
        scopes: identity.scopes,
        calls: await countCall(ctx),
      }
    },
  }

  /** `POST /api/v1/plugins/hello/execute` with `{"input": {"name": "Ada"}}`: the greeting as data, counted like the routes. */
  override async execute(ctx: PluginContext) {
    const input = ctx.input as { name?: unknown } | null
    const name = (typeof input?.name === 'string' ? input.name.trim() : '') || 'world'
    if (name.length > MAX_NAME) throw new Error(`"name" must be at most ${MAX_NAME} characters`)
    return { message: `${await greeting(ctx)}, ${name}!`, calls: await countCall(ctx) }
  }

  override tools = {
    // The model's arguments arrive as it sent them (the platform does not check them against plugin.json's schema):
    // a tool checks what it uses, and a thrown Error's message is what the model reads.
    greet: async (args: Record<string, unknown>, ctx: PluginContext) => {
      const name = typeof args.name === 'string' ? args.name.trim() : ''
      if (name === '' || name.length > MAX_NAME) throw new Error(`"name" must be 1 to ${MAX_NAME} characters`)
      return { message: `${await greeting(ctx)}, ${name}!`, calls: await countCall(ctx) }
    },
  }
}
