import { BasePlugin } from 'enclava:plugin'
// @ts-expect-error the module does not exist: bundlePlugin must refuse it
import { missing } from './does-not-exist.ts'

/** Refused by bundlePlugin: an import that does not resolve. */
export default class Unresolved extends BasePlugin {
  override async execute() {
    return missing
  }
}
