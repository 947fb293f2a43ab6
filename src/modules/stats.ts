import type { Sql } from '../db/client.ts'
import type { ModuleName } from './service.ts'

export type ModuleStats = Record<string, number>

/** A few numbers per module for the administrator deciding whether to turn it off: what exists, what ran lately. */
export async function moduleStats(sql: Sql, name: ModuleName): Promise<ModuleStats> {
  switch (name) {
    case 'chatbots': {
      const [r] = await sql<{ chatbots: number; conversations: number; messages_24h: number }[]>`
        SELECT (SELECT count(*) FROM chatbots)::int AS chatbots,
               (SELECT count(*) FROM chatbot_conversations)::int AS conversations,
               (SELECT count(*) FROM chatbot_messages WHERE created_at > now() - interval '1 day')::int AS messages_24h`
      return { ...r! }
    }
    case 'rag': {
      const [r] = await sql<{ collections: number; documents: number; indexing: number; failed: number; chunks: number }[]>`
        SELECT (SELECT count(*) FROM rag_collections)::int AS collections,
               count(*)::int AS documents,
               count(*) FILTER (WHERE status IN ('queued', 'processing'))::int AS indexing,
               count(*) FILTER (WHERE status = 'failed')::int AS failed,
               coalesce(sum(chunk_count), 0)::int AS chunks
        FROM rag_documents`
      return { ...r! }
    }
    case 'agents': {
      const [r] = await sql<{ agents: number; runs_24h: number; running: number }[]>`
        SELECT (SELECT count(*) FROM agents)::int AS agents,
               count(*) FILTER (WHERE created_at > now() - interval '1 day')::int AS runs_24h,
               count(*) FILTER (WHERE status = 'running')::int AS running
        FROM agent_runs`
      return { ...r! }
    }
    case 'plugins': {
      const [r] = await sql<{ installed: number; enabled: number; invocations_24h: number; cron_runs_24h: number }[]>`
        SELECT count(*)::int AS installed, count(*) FILTER (WHERE enabled)::int AS enabled,
               (SELECT count(*) FROM plugin_invocations WHERE created_at > now() - interval '1 day')::int AS invocations_24h,
               (SELECT count(*) FROM plugin_cron_runs WHERE started_at > now() - interval '1 day')::int AS cron_runs_24h
        FROM plugins`
      return { ...r! }
    }
    case 'playground': {
      const [r] = await sql<{ requests_24h: number; cost_micros_24h: string; users_24h: number }[]>`
        SELECT count(*)::int AS requests_24h, coalesce(sum(cost_micros), 0)::bigint AS cost_micros_24h,
               count(DISTINCT user_id)::int AS users_24h
        FROM usage_records WHERE source = 'playground' AND created_at > now() - interval '1 day'`
      return { requests_24h: r!.requests_24h, cost_micros_24h: Number(r!.cost_micros_24h), users_24h: r!.users_24h }
    }
  }
}
