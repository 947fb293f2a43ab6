import { createHash } from 'node:crypto'
import { ErrorReply, type RedisClientType } from 'redis'

export interface LuaScript {
  source: string
  sha1: string
}

function lua(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') }
}

/**
 * KEYS[1] counter; ARGV[1] by, ARGV[2] ttl ms.
 * EXISTS rather than "result == by": a pre-existing key holding 0 is not new and must keep its lifetime.
 */
export const INCREMENT = lua(`
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
`)

/**
 * KEYS[1] current window, KEYS[2] previous window.
 * ARGV: limit, cost, ms elapsed in the current window, window ms, counter ttl ms, take (1, or 0 to only look).
 * Returns { allowed 0|1, count, prev, curr } with the numbers as %.17g strings: Lua numbers become integers on the
 * way out, and 17 digits round-trip a double exactly, matching the memory store. count is the weighted count after
 * the attempt; prev and curr are the two counters as the attempt left them, from which the caller works out how long
 * until the next attempt fits (in JavaScript, so both stores share one implementation of that arithmetic).
 * INCRBYFLOAT so fractional costs behave as they do in memory; its reply is the stored value the next call will read.
 */
export const HIT_WINDOW = lua(`
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local weighted = prev * (1 - elapsed / window) + curr
local function g(n) return string.format('%.17g', n) end
if weighted + cost > limit then
  return {0, g(weighted), g(prev), g(curr)}
end
if ARGV[6] == '0' then
  return {1, g(weighted), g(prev), g(curr)}
end
local stored = redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, g(weighted + cost), g(prev), stored}
`)

export type ScriptReply = Awaited<ReturnType<RedisClientType['eval']>>

/** EVALSHA keeps the script body off the wire; EVAL loads it when the server has not seen it (restart, SCRIPT FLUSH). */
export async function runScript(
  client: RedisClientType,
  script: LuaScript,
  keys: string[],
  args: string[],
): Promise<ScriptReply> {
  try {
    return await client.evalSha(script.sha1, { keys, arguments: args })
  } catch (err) {
    if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err
    return client.eval(script.source, { keys, arguments: args })
  }
}
