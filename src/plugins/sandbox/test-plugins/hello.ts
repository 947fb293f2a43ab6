import { BasePlugin, type PluginContext } from 'enclava:plugin'
import { greet } from './lib/greet.ts'

/** The plugin the client tests bundle with bundlePlugin: routes, cron, hooks, host calls. */
export default class Hello extends BasePlugin {
  override name = 'hello'
  override version = '1.2.3'

  override routes = {
    'GET /hello/:who': (_req: Request, ctx: PluginContext) =>
      new Response(greet(ctx.params.who ?? 'nobody'), { status: 201, headers: { 'x-plugin': 'hello' } }),
    'POST /echo': async (req: Request) => Response.json({ got: await req.json(), type: req.headers.get('content-type') }),
    'GET /bytes': () => new Response(new Uint8Array([0, 1, 2, 254, 255]), { headers: { 'content-type': 'application/octet-stream' } }),
    'GET /plain': () => ({ plain: 'object' }),
    'GET /files/*': (_req: Request, ctx: PluginContext) => Response.json({ rest: ctx.params['*'] }),
    'GET /files/readme': () => new Response('exact wins'),
    'ALL /any': (req: Request) => new Response(req.method),
  }

  override cron = {
    tick: async (ctx: PluginContext) => {
      const count = Number((await ctx.kv.get('ticks')) ?? 0) + 1
      await ctx.kv.set('ticks', count)
      return count
    },
  }

  override async onEnable(ctx: PluginContext) {
    await ctx.kv.set('enabled', true)
    return 'enabled'
  }

  override async execute(ctx: PluginContext) {
    console.log('execute called with', ctx.input)
    console.warn('a warning')
    await ctx.kv.set('last', ctx.input)
    const res = await fetch('https://api.example.com/data?x=1', { method: 'POST', body: JSON.stringify({ q: 1 }), headers: { 'x-test': 'yes' } })
    return { input: ctx.input, identity: ctx.identity, last: await ctx.kv.get('last'), fetched: await res.json(), status: res.status }
  }
}
