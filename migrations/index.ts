// Imported as text so a compiled single binary carries its migrations. migrations.test.ts checks this list
// against the folder, so a new file cannot be forgotten here.
import m0001 from './0001_foundation.sql' with { type: 'text' }
import m0002 from './0002_gateway.sql' with { type: 'text' }
import m0003 from './0003_rag.sql' with { type: 'text' }
import m0004 from './0004_plugins.sql' with { type: 'text' }
import m0005 from './0005_chatbots.sql' with { type: 'text' }
import m0006 from './0006_budget_leases.sql' with { type: 'text' }
import m0007 from './0007_plugins_hardening.sql' with { type: 'text' }
import m0008 from './0008_plugin_boundary.sql' with { type: 'text' }
import m0009 from './0009_gateway_hardening.sql' with { type: 'text' }
import m0010 from './0010_agents.sql' with { type: 'text' }
import m0011 from './0011_security.sql' with { type: 'text' }
import m0012 from './0012_mcp_servers.sql' with { type: 'text' }
import m0013 from './0013_responses.sql' with { type: 'text' }
import m0014 from './0014_agent_mode.sql' with { type: 'text' }
import m0015 from './0015_admin.sql' with { type: 'text' }
import m0016 from './0016_plugin_kv_functions.sql' with { type: 'text' }
import m0017 from './0017_rag_chunk_terms.sql' with { type: 'text' }
import m0018 from './0018_plugin_kv_lock.sql' with { type: 'text' }
import m0019 from './0019_rag_originals.sql' with { type: 'text' }

export const migrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  { version: 1, name: '0001_foundation.sql', sql: m0001 },
  { version: 2, name: '0002_gateway.sql', sql: m0002 },
  { version: 3, name: '0003_rag.sql', sql: m0003 },
  { version: 4, name: '0004_plugins.sql', sql: m0004 },
  { version: 5, name: '0005_chatbots.sql', sql: m0005 },
  { version: 6, name: '0006_budget_leases.sql', sql: m0006 },
  { version: 7, name: '0007_plugins_hardening.sql', sql: m0007 },
  { version: 8, name: '0008_plugin_boundary.sql', sql: m0008 },
  { version: 9, name: '0009_gateway_hardening.sql', sql: m0009 },
  { version: 10, name: '0010_agents.sql', sql: m0010 },
  { version: 11, name: '0011_security.sql', sql: m0011 },
  { version: 12, name: '0012_mcp_servers.sql', sql: m0012 },
  { version: 13, name: '0013_responses.sql', sql: m0013 },
  { version: 14, name: '0014_agent_mode.sql', sql: m0014 },
  { version: 15, name: '0015_admin.sql', sql: m0015 },
  { version: 16, name: '0016_plugin_kv_functions.sql', sql: m0016 },
  { version: 17, name: '0017_rag_chunk_terms.sql', sql: m0017 },
  { version: 18, name: '0018_plugin_kv_lock.sql', sql: m0018 },
  { version: 19, name: '0019_rag_originals.sql', sql: m0019 },
]
