// Reads the YAML configuration, resolves secret references and validates it. Every problem
// is reported by its path in the file (and its line), all at once, never as a stack trace.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { GatewayError } from '../core/errors.ts';
import { describeIssue } from './issue-text.ts';
import { configSchema, type Config } from './schema.ts';
import { registerSecret } from './secrets.ts';

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

export interface ConfigProblem {
  /** `policies[2].rules[0].then` */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
}

export interface LoadedConfig {
  readonly config: Config;
  readonly file: string;
  /** Paths whose values came from `${env:...}` or `${file:...}`: never print them. */
  readonly secretPaths: ReadonlySet<string>;
}

export class ConfigError extends GatewayError {
  readonly problems: readonly ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: readonly ConfigProblem[]) {
    super('PCS_CONFIG_INVALID', { problems: problems.map((p) => `  - ${formatProblem(p)}`).join('\n') });
    this.problems = problems;
    this.file = file;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.path || '(top level)'}: ${p.message}${p.line ? ` (line ${p.line})` : ''}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** Load and validate a configuration file. Throws ConfigError listing every problem. */
export function loadConfig(file: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatewayError('PCS_CONFIG_UNREADABLE', { file, cause: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file = '<inline>', env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: lineCounter.linePos(e.pos[0]).line })),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const problems: ConfigProblem[] = [];
  const secretPaths = new Set<string>();
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as YamlNode | undefined;
      if (node && (isMap(node) || isSeq(node) || isScalar(node)) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };

  const resolved = resolveRefs(raw, [], env, secretPaths, (path, message) => problems.push({ path: formatPath(path), message, line: lineOf(path) }));
  const refProblems = new Set(problems.map((p) => p.path));
  const result = configSchema.safeParse(resolved);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path);
      // An unresolved reference was already reported at this path.
      if (refProblems.has(path)) continue;
      problems.push({ path, message: describeIssue(issue, configSchema, resolved), line: lineOf(issue.path) });
    }
  }
  // Cross-references run on the raw document too, so they are listed with the shape problems.
  for (const p of crossReferenceProblems(resolved)) problems.push({ ...p, line: lineOf(p.rawPath) });
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(file, problems.map((p, i) => ({ p, i })).sort((a, b) => (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i).map((x) => x.p));
  }
  return { config: absolutise(result.data), file, secretPaths };
}

/** Names that must be unique, and policy connections that must exist. */
function crossReferenceProblems(raw: unknown): Array<Omit<ConfigProblem, 'line'> & { rawPath: PropertyKey[] }> {
  const out: Array<Omit<ConfigProblem, 'line'> & { rawPath: PropertyKey[] }> = [];
  const add = (rawPath: PropertyKey[], message: string): void => void out.push({ path: formatPath(rawPath), message, rawPath });
  const doc = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : []);
  const connections = new Map<string, number>();
  list(doc.connections).forEach((c, i) => {
    if (typeof c.name !== 'string') return;
    const first = connections.get(c.name);
    if (first !== undefined) add(['connections', i, 'name'], `duplicate connection name ${c.name} (first at connections[${first}])`);
    else connections.set(c.name, i);
  });
  const policies = new Set<string>();
  list(doc.policies).forEach((p, i) => {
    if (typeof p.name === 'string') {
      if (policies.has(p.name)) add(['policies', i, 'name'], `duplicate policy name ${p.name}`);
      policies.add(p.name);
    }
    (Array.isArray(p.connections) ? p.connections : []).forEach((c: unknown, j: number) => {
      if (typeof c === 'string' && !/[*?[]/.test(c) && !connections.has(c)) add(['policies', i, 'connections', j], `no connection named ${c}`);
    });
  });
  return out;
}

const REF = /\$\{(env|file):([^}]+)\}/g;

function resolveRefs(
  value: unknown,
  path: PropertyKey[],
  env: NodeJS.ProcessEnv,
  secretPaths: Set<string>,
  report: (path: PropertyKey[], message: string) => void,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    let secret = false;
    const out = value.replace(REF, (_whole, kind: string, ref: string) => {
      secret = true;
      if (kind === 'env') {
        const v = env[ref];
        if (v === undefined || v === '') {
          report(path, `environment variable ${ref} is not set`);
          return '';
        }
        return v;
      }
      try {
        return readFileSync(ref, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        report(path, `cannot read secret file ${ref} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        return '';
      }
    });
    if (secret) {
      secretPaths.add(formatPath(path));
      registerSecret(out);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveRefs(v, [...path, i], env, secretPaths, report));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveRefs(v, [...path, k], env, secretPaths, report);
    return out;
  }
  return value;
}

/** Paths in the file are relative to the working directory the gateway starts in. */
function absolutise(config: Config): Config {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(process.cwd(), p));
  const store = config.store.startsWith('sqlite:') && config.store !== 'sqlite::memory:' ? `sqlite:${abs(config.store.slice('sqlite:'.length))}` : config.store;
  return {
    ...config,
    store,
    data_dir: abs(config.data_dir),
    vault: { ...config.vault, ...(config.vault.master_key_file ? { master_key_file: abs(config.vault.master_key_file) } : {}) },
    audit: {
      ...config.audit,
      ...(config.audit.signing_key_file ? { signing_key_file: abs(config.audit.signing_key_file) } : {}),
      witness: config.audit.witness.map((w) => (w.type === 'file' ? { ...w, path: abs(w.path) } : w)),
    },
    ...(config.embedded_postgres ? { embedded_postgres: { ...config.embedded_postgres, data_dir: abs(config.embedded_postgres.data_dir) } } : {}),
  };
}
