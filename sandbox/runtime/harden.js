// Closes what would let code in an isolate use memory its limit does not count. Evaluated in every plugin context
// (before plugin.js) and in every code interpreter context (before code.js), before any untrusted code runs.
{
  const define = Object.defineProperty
  // WebAssembly memory is not counted against the isolate's memory limit (measured: a 32 MB isolate filled a 256 MB
  // Memory), and SharedArrayBuffer has no use without threads.
  delete globalThis.WebAssembly
  delete globalThis.SharedArrayBuffer
  // Resizable ArrayBuffers commit their memory outside isolated-vm's allocator, so none of it counts against the
  // isolate's limit (measured: a 64 MB isolate kept 1.5 GB in three buffers grown to 512 MB). The constructor is
  // replaced by one that refuses `maxByteLength`; every other way to the original (the prototype's `constructor`,
  // `Symbol.species`) leads to the replacement, and no other builtin creates a resizable buffer once WebAssembly is
  // gone. Fixed-size buffers, `transfer` and typed arrays go through the allocator and are counted.
  const NativeArrayBuffer = ArrayBuffer
  const ReflectConstruct = Reflect.construct
  const ArrayBufferFixed = function ArrayBuffer(length, options) {
    if (new.target === undefined) throw new TypeError("Constructor ArrayBuffer requires 'new'")
    if (options !== undefined && options !== null && (typeof options === 'object' || typeof options === 'function') && options.maxByteLength !== undefined)
      throw new RangeError('resizable ArrayBuffers (maxByteLength) are not available here: their memory is not counted against the limit')
    return ReflectConstruct(NativeArrayBuffer, [length], new.target)
  }
  define(ArrayBufferFixed, 'prototype', { value: NativeArrayBuffer.prototype, writable: false, enumerable: false, configurable: false })
  define(ArrayBufferFixed, 'isView', { value: NativeArrayBuffer.isView, writable: true, enumerable: false, configurable: true })
  define(ArrayBufferFixed, Symbol.species, { get() { return this }, enumerable: false, configurable: true })
  Object.setPrototypeOf(ArrayBufferFixed, Object.getPrototypeOf(NativeArrayBuffer))
  define(NativeArrayBuffer.prototype, 'constructor', { value: ArrayBufferFixed, writable: true, enumerable: false, configurable: true })
  define(globalThis, 'ArrayBuffer', { value: ArrayBufferFixed, writable: true, enumerable: false, configurable: true })
}
