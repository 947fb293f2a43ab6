import { readFileSync } from 'node:fs'

/**
 * The source evaluated in every new plugin context before the plugin's module: the web globals and the plugin
 * runtime (files under runtime/, plain JS because they run inside the isolate, not in Node). It runs as one
 * closure whose arguments are the host callbacks ($0-$5) and the limits the runtime checks itself ($6). The
 * callbacks stay in that closure: nothing of this process is left on the isolate's global object.
 *
 * Builtins are captured here, before any plugin code runs, so the runtime keeps working when a plugin replaces
 * JSON.stringify or Promise.prototype.then in its own realm. (That would only hurt the plugin itself: every value
 * leaving the isolate is validated again by the sandbox process.)
 */
const PRELUDE = `'use strict'
const native = { log: $0, hostCall: $1, done: $2, timer: $3, random: $4, url: $5 }
const limits = $6
const { freeze, defineProperty, keys: objectKeys, hasOwn: objectHasOwn } = Object
const { stringify: jsonStringify, parse: jsonParse } = JSON
const ReflectApply = Reflect.apply
const ArrayIsArray = Array.isArray
const ObjectProtoToString = Object.prototype.toString
const ObjectToString = (v) => ReflectApply(ObjectProtoToString, v, [])
const DateProtoGetTime = Date.prototype.getTime
const DateGetTime = (d) => ReflectApply(DateProtoGetTime, d, [])
const PromiseProtoThen = Promise.prototype.then
const promiseThen = (p, onOk, onErr) => ReflectApply(PromiseProtoThen, p, [onOk, onErr])
`

const FRAGMENTS = ['encoding.js', 'url.js', 'http.js', 'globals.js', 'harden.js', 'plugin.js']

export const RUNTIME_SOURCE =
  PRELUDE + FRAGMENTS.map((file) => `// ---- ${file}\n` + readFileSync(new URL(`./runtime/${file}`, import.meta.url), 'utf8')).join('\n')

/** The synthetic `enclava:plugin` module: BasePlugin, handed over by the runtime through a one-shot global. */
export const PLUGIN_MODULE_SOURCE = 'export const BasePlugin = globalThis.__enclavaBasePlugin'

/**
 * The source evaluated in each code interpreter context before the snippet: harden.js, then a console that keeps
 * lines in the result and the entry points run/collect (runtime/code.js). One closure, whose argument ($0) is the
 * output limits the runtime applies itself; the process checks the result's size again.
 */
const CODE_PRELUDE = `'use strict'
const limits = $0
const { freeze, defineProperty } = Object
const { stringify: jsonStringify } = JSON
const ReflectApply = Reflect.apply
const PromiseProtoThen = Promise.prototype.then
const promiseThen = (p, onOk, onErr) => ReflectApply(PromiseProtoThen, p, [onOk, onErr])
`

export const CODE_RUNTIME_SOURCE =
  CODE_PRELUDE + ['harden.js', 'code.js'].map((file) => `// ---- ${file}\n` + readFileSync(new URL(`./runtime/${file}`, import.meta.url), 'utf8')).join('\n')
