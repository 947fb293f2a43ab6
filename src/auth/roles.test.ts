import { describe, expect, test } from 'bun:test'
import { can, canAssign, canManage, PERMISSIONS, permissionsOf, ROLES, type Permission, type Role } from './roles.ts'

/** The full expected grant table: every role × every permission, so a new grant anywhere shows up here. */
const EXPECTED: Record<Role, Permission[]> = {
  read_only: ['profile:read', 'api_keys:read', 'rag:read'],
  user: ['profile:read', 'api_keys:read', 'rag:read', 'api_keys:write', 'llm:use', 'rag:write', 'chatbots:use', 'agents:use', 'mcp:use'],
  admin: [
    'profile:read',
    'api_keys:read',
    'rag:read',
    'api_keys:write',
    'llm:use',
    'rag:write',
    'chatbots:use',
    'agents:use',
    'mcp:use',
    'api_keys:admin',
    'users:read',
    'users:manage',
    'audit:read',
    'analytics:read_all',
    'settings:manage',
    'plugins:manage',
    'providers:manage',
    'budgets:manage',
    'rag:admin',
    'chatbots:admin',
    'agents:admin',
    'mcp:admin',
  ],
  super_admin: [...PERMISSIONS],
}

describe('can(role, permission)', () => {
  const named: [Role, Permission, boolean][] = [
    ['read_only', 'profile:read', true],
    ['read_only', 'api_keys:read', true],
    ['read_only', 'api_keys:write', false],
    ['read_only', 'users:read', false],
    ['read_only', 'users:manage', false],
    ['read_only', 'audit:read', false],
    ['read_only', 'llm:use', false],
    ['user', 'llm:use', true],
    ['user', 'budgets:manage', false],
    ['admin', 'budgets:manage', true],
    ['user', 'api_keys:write', true],
    ['user', 'api_keys:admin', false],
    ['user', 'users:read', false],
    ['user', 'users:manage', false],
    ['user', 'audit:read', false],
    ['user', 'analytics:read_all', false],
    ['admin', 'analytics:read_all', true],
    ['user', 'settings:manage', false],
    ['admin', 'users:manage', true],
    ['admin', 'users:read', true],
    ['admin', 'audit:read', true],
    ['admin', 'api_keys:admin', true],
    ['super_admin', 'users:manage', true],
    ['super_admin', 'providers:manage', true],
  ]
  test.each(named)('%s may %s: %p', (role, permission, expected) => {
    expect(can(role, permission)).toBe(expected)
  })

  const matrix = ROLES.flatMap((role) => PERMISSIONS.map((p) => [role, p, EXPECTED[role].includes(p)] as [Role, Permission, boolean]))
  test.each(matrix)('matrix: %s × %s -> %p', (role, permission, expected) => {
    expect(can(role, permission)).toBe(expected)
  })

  test('permissionsOf agrees with can for every role', () => {
    for (const role of ROLES) {
      expect([...permissionsOf(role)].sort()).toEqual([...EXPECTED[role]].sort())
      for (const p of permissionsOf(role)) expect(can(role, p)).toBe(true)
    }
  })

  test('each role includes every permission of the roles below it', () => {
    for (let i = 1; i < ROLES.length; i++) {
      const lower = ROLES[i - 1]!
      const higher = ROLES[i]!
      for (const p of permissionsOf(lower)) expect(can(higher, p)).toBe(true)
    }
  })
})

describe('canManage(actor, target)', () => {
  const A = '00000000-0000-4000-8000-00000000000a'
  const B = '00000000-0000-4000-8000-00000000000b'
  const table: [Role, Role, boolean][] = [
    ['read_only', 'read_only', false],
    ['read_only', 'user', false],
    ['read_only', 'admin', false],
    ['read_only', 'super_admin', false],
    ['user', 'read_only', true],
    ['user', 'user', false],
    ['user', 'admin', false],
    ['user', 'super_admin', false],
    ['admin', 'read_only', true],
    ['admin', 'user', true],
    ['admin', 'admin', false],
    ['admin', 'super_admin', false],
    ['super_admin', 'read_only', true],
    ['super_admin', 'user', true],
    ['super_admin', 'admin', true],
    ['super_admin', 'super_admin', true],
  ]
  test.each(table)('a %s manages another %s: %p', (actorRole, targetRole, expected) => {
    expect(canManage({ id: A, role: actorRole }, { id: B, role: targetRole })).toBe(expected)
  })

  test.each(ROLES.map((r) => [r]))('nobody manages themselves, not even a %s', (role) => {
    expect(canManage({ id: A, role }, { id: A, role })).toBe(false)
    // The id decides, not the role carried alongside it.
    for (const other of ROLES) expect(canManage({ id: A, role }, { id: A, role: other })).toBe(false)
  })
})

describe('canAssign(actor, role)', () => {
  const table: [Role, Role, boolean][] = [
    ['read_only', 'read_only', false],
    ['read_only', 'user', false],
    ['read_only', 'admin', false],
    ['read_only', 'super_admin', false],
    ['user', 'read_only', true],
    ['user', 'user', false],
    ['user', 'admin', false],
    ['user', 'super_admin', false],
    ['admin', 'read_only', true],
    ['admin', 'user', true],
    ['admin', 'admin', false],
    ['admin', 'super_admin', false],
    ['super_admin', 'read_only', true],
    ['super_admin', 'user', true],
    ['super_admin', 'admin', true],
    ['super_admin', 'super_admin', true],
  ]
  test.each(table)('a %s may grant %s: %p', (actor, role, expected) => {
    expect(canAssign({ role: actor }, role)).toBe(expected)
  })
})
