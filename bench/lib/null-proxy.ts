/**
 * The least a gateway written on Bun can do: accept the request, forward it to the upstream with fetch(), stream
 * the answer back. No auth, no limits, no accounting, no logging. Its throughput is the ceiling for any Bun proxy
 * on the same machine, so "gateway / null proxy" separates Enclava's own cost from the cost of the extra hop.
 * Prints one JSON line `{"url": "http://..."}` once listening; SIGTERM stops it.
 *
 * Env: UPSTREAM_URL (base URL ending in /v1).
 */
const upstream = process.env.UPSTREAM_URL
if (!upstream) throw new Error('UPSTREAM_URL is required')

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname.replace(/^\/api\/v1/, '')
    const res = await fetch(`${upstream}${path}`, {
      method: req.method,
      headers: { 'content-type': 'application/json' },
      body: await req.text(),
    })
    return new Response(res.body, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' } })
  },
})
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.port}` }))

process.on('SIGTERM', () => {
  void server.stop(true).finally(() => process.exit(0))
})
