// Hits and misses of the statement-analysis caches (SQL policy analysis, masking lineage),
// counted where the caches live and exported by src/telemetry/metrics.ts. Plain counters in a
// module of its own: the caches are per process, and the analysers must not import the runtime.

export interface CacheCounts {
  hits: number;
  misses: number;
}

export const analysisCacheStats: { readonly policy: CacheCounts; readonly masking: CacheCounts } = {
  policy: { hits: 0, misses: 0 },
  masking: { hits: 0, misses: 0 },
};
