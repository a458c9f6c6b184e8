// Literal-normalised MySQL text for the analysis caches (first cut: never normalised).
import type { Normalised } from '../normalised.ts';

export function normaliseMysql(_text: string): Normalised | undefined {
  return undefined;
}
