import { readFileSync } from 'node:fs'
import { BasePlugin } from 'enclava:plugin'

/** Refused by bundlePlugin: plugins get no Node APIs. */
export default class UsesNode extends BasePlugin {
  override async execute() {
    return readFileSync('/etc/passwd', 'utf8')
  }
}
