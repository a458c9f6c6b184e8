// The configuration file's schema: one source for start-up validation, the published JSON
// Schema (schema/portcullis.schema.json) and the TypeScript types every module reads.
import { z } from 'zod';
import { SFTP_OPS, SQL_EFFECTS } from '../core/action.ts';
import { ALL_CREDENTIAL_COLUMNS } from '../core/credential-columns.ts';
import { isLoopbackHost, isLoopbackHttp } from '../identity/urls.ts';
import { maskEntryProblems } from '../masking/config.ts';
import { notificationsSchema } from '../notify/config.ts';
import { SYSLOG_FACILITIES, type SyslogFacility } from '../audit/witness/syslog.ts';
import { bodyTestProblems } from '../policy/http-body.ts';

/** `15m`, `120s`, `1h30m`, `500ms` or a number of seconds; parsed to seconds. */
export const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^(\d+(\.\d+)?(ms|s|m|h|d))+$/, 'expected a duration such as 30s, 15m, 1h')])
  .transform((v) => (typeof v === 'number' ? v : parseDuration(v)));

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

export function parseDuration(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] ?? 0);
  return total;
}

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port such as 127.0.0.1:8700');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a name of letters, digits, dot, dash or underscore');
const glob = z.string().min(1);
const tlsMode = z.enum(['disable', 'prefer', 'require', 'verify-full']);

const listen = z.strictObject({
  api: hostPort.default('127.0.0.1:8700'),
  postgres: hostPort.optional(),
  mysql: hostPort.optional(),
  ssh: hostPort.optional(),
  http: hostPort.optional(),
  /** Where relays dial in (TLS, HTTP/2 over it; docs/relay.md). Needs `relay_tls`. */
  relay: hostPort.optional(),
});

// Algorithms a JWT may be signed with. `none` and the HMAC family are absent on purpose:
// an HS* token verified with a public key is the classic key-confusion forgery.
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

// Keys fetched over plain http could be swapped by anyone on the path.
const metadataUrl = z.url().refine((u) => u.startsWith('https://') || isLoopbackHttp(new URL(u)), 'must use https (plain http is allowed only for loopback hosts)');

const oidcIssuer = z.strictObject({
  issuer: metadataUrl,
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  subject_claim: z.string().default('sub'),
  groups_claim: z.string().default('groups'),
  /** Claim whose values become gateway roles (`admin`...). Unset: roles come only from admin_groups. */
  roles_claim: z.string().optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  clock_tolerance: duration.default(30),
  /** Skip discovery and use this JWKS URL. */
  jwks_uri: metadataUrl.optional(),
  /** Minimum time between two JWKS refetches caused by an unknown `kid`. */
  jwks_cooldown: duration.default(30),
  /** Identities from this issuer are agents (they can never approve) unless a group says otherwise. */
  agent: z.boolean().default(true),
});

const samlIdp = z.strictObject({
  name,
  /** The IdP's entity id, checked against the assertion's Issuer. */
  idp_issuer: z.string().min(1),
  /** PEM certificate (or `${file:...}`) that signs the IdP's responses or assertions. */
  idp_cert: z.string().min(1),
  /** Our entity id: the assertion's Audience must name it. */
  audience: z.string().min(1).default('portcullis'),
  subject_attribute: z.string().optional(),
  groups_attribute: z.string().default('groups'),
  token_ttl: duration.default(900),
  clock_tolerance: duration.default(30),
});

const identity = z.strictObject({
  local_issuer: z
    .strictObject({
      issuer: z.string().default('portcullis'),
      audience: z.string().default('portcullis'),
      default_ttl: duration.default(900),
      max_ttl: duration.default(86400),
    })
    .default({ issuer: 'portcullis', audience: 'portcullis', default_ttl: 900, max_ttl: 86400 }),
  oidc: z.array(oidcIssuer).default([]),
  saml: z.array(samlIdp).default([]),
  /** Members of these groups get the `admin` role (admin API). */
  admin_groups: z.array(z.string()).default(['admins']),
});

const secret = z.string().min(1);

const postgresConnection = z.strictObject({
  name,
  type: z.literal('postgres'),
  description: z.string().optional(),
  /** Reach the upstream through this relay (docs/relay.md) instead of dialling it directly. */
  relay: name.optional(),
  upstream: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    password: secret.optional(),
    tls: tlsMode.default('prefer'),
    ca: z.string().optional(),
  }),
  /**
   * Volatile functions that only read (`schema.name` globs; without a dot, any schema): they
   * count as `read` instead of `unknown`. docs/policy.md, "Functions".
   */
  read_functions: z.array(z.string().min(1)).optional(),
});

const mysqlConnection = z.strictObject({
  name,
  type: z.literal('mysql'),
  description: z.string().optional(),
  /** Reach the upstream through this relay (docs/relay.md) instead of dialling it directly. */
  relay: name.optional(),
  upstream: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(3306),
    database: z.string().optional(),
    user: z.string().min(1),
    password: secret.optional(),
    tls: tlsMode.default('prefer'),
    ca: z.string().optional(),
  }),
});

const sshConnection = z.strictObject({
  name,
  type: z.literal('ssh'),
  description: z.string().optional(),
  /** Reach the upstream through this relay (docs/relay.md) instead of dialling it directly. */
  relay: name.optional(),
  upstream: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    password: secret.optional(),
    private_key: secret.optional(),
    host_key: z.string().optional(),
  }),
});

/** What frameworks read a method override from, by default (docs/http.md, "Request integrity"). */
const METHOD_OVERRIDE_PARAMS = ['_method'] as const;
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;

const httpConnection = z.strictObject({
  name,
  type: z.literal('http'),
  description: z.string().optional(),
  /** Requests to this host name (the Host header, port ignored) go to this connection, whatever the path. */
  host: z.string().min(1).optional(),
  /** Requests under this path prefix go to this connection, with the prefix removed. Default `/<name>`. */
  prefix: z.string().regex(/^\/[^?#]*$/, 'expected a path starting with /').optional(),
  /** How long the upstream may take to answer (headers), and to send the whole body. */
  timeout: duration.default(30),
  /** At most this many requests of this connection in flight; more get 503. */
  max_concurrency: z.number().int().min(1).default(64),
  /** Largest response body buffered to mask JSON by path (bytes); a larger JSON body is refused (502). */
  max_masked_body: z.number().int().min(1024).default(16 * 1024 * 1024),
  /**
   * What the upstream could be made to act on besides the method and path policy decides on
   * (docs/http.md, "Request integrity"). `method_overrides`: X-HTTP-Method-Override and `_method`
   * parameters refused, stripped, or decided as the effective method. `path_overrides`:
   * X-Original-URL, X-Forwarded-Prefix... refused or stripped. `non_canonical_paths`: dot
   * segments, `//`, `%2E`... refused, or rewritten to the canonical path that is then decided.
   * `case_insensitive_paths`: the upstream routes without regard to case (ASP.NET Core, IIS), so
   * policy matches the path lower-cased.
   */
  integrity: z
    .strictObject({
      method_overrides: z.enum(['refuse', 'strip', 'decide']).default('refuse'),
      path_overrides: z.enum(['refuse', 'strip']).default('refuse'),
      non_canonical_paths: z.enum(['refuse', 'normalise']).default('refuse'),
      /** Parameter names (query, form, multipart, JSON) and headers that the upstream reads a method from. */
      method_override_params: z.array(z.string().min(1)).default([...METHOD_OVERRIDE_PARAMS]),
      method_override_headers: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')).default([...METHOD_OVERRIDE_HEADERS]),
      case_insensitive_paths: z.boolean().default(false),
    })
    .default({ method_overrides: 'refuse', path_overrides: 'refuse', non_canonical_paths: 'refuse', method_override_params: [...METHOD_OVERRIDE_PARAMS], method_override_headers: [...METHOD_OVERRIDE_HEADERS], case_insensitive_paths: false }),
  /**
   * Headers whose values never reach a recording (request and response), besides those always
   * withheld: Authorization, cookies, the usual API-key headers, and this connection's own
   * credential header or query parameter.
   */
  redact_headers: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')).default([]),
  upstream: z.strictObject({
    url: z.url(),
    /** CA file (PEM) to verify the upstream's certificate; system CAs when absent. */
    ca: z.string().optional(),
    auth: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('bearer'), token: secret.optional() }),
        z.strictObject({ type: z.literal('basic'), username: z.string(), password: secret.optional() }),
        z.strictObject({ type: z.literal('header'), header: z.string(), value: secret.optional() }),
        z.strictObject({ type: z.literal('query'), param: z.string(), value: secret.optional() }),
        z.strictObject({
          type: z.literal('oauth2'),
          token_url: z.url(),
          client_id: z.string(),
          client_secret: secret.optional(),
          scope: z.string().optional(),
        }),
      ])
      .optional(),
  }),
});

export const connectionSchema = z.discriminatedUnion('type', [postgresConnection, mysqlConnection, sshConnection, httpConnection]);

const stringList = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (typeof v === 'string' ? [v] : v));

const sqlMatch = z.strictObject({
  /** The statement's effect is one of these. */
  effect: z.array(z.enum(SQL_EFFECTS)).min(1).optional(),
  /** The statement's command class is one of these (select, insert, create, grant...). */
  command: stringList.optional(),
  /** Every relation the statement touches matches one of these globs (vacuous for none). */
  tables: stringList.optional(),
  /** At least one relation the statement touches matches one of these globs. */
  touches: stringList.optional(),
  /** At least one function the statement calls matches one of these globs. */
  functions: stringList.optional(),
  /** UPDATE/DELETE without a WHERE clause (or one that names no column): true matches those, false the others. */
  unbounded: z.boolean().optional(),
});

// `match.http.query` and `.headers`: name -> glob or globs (one value must match one glob), or
// null for "must be absent". An empty glob is allowed: it matches the empty value only.
const paramGlobs = z.union([z.string().transform((v) => [v]), z.array(z.string()).min(1, 'give at least one glob, or null for "must be absent"')]);
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name');

const httpBodyTest = z
  .strictObject({
    /** `$`, `.name`, `['name']`, `[n]`, `[*]`. */
    path: z.string(),
    equals: z.json().optional(),
    in: z.array(z.json()).min(1).optional(),
    /** Glob over a string value. */
    matches: z.string().optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
    exists: z.boolean().optional(),
    /** With `[*]`: every selected value must pass (default: at least one). */
    all: z.boolean().optional(),
  })
  .superRefine((t, ctx) => {
    for (const p of bodyTestProblems(t)) ctx.addIssue({ code: 'custom', message: p.message, path: p.path === '' ? [] : [p.path] });
  });

const httpMatch = z.strictObject({
  method: stringList.optional(),
  /** Path patterns: `/customers/:id`, `/admin/**`. */
  path: stringList.optional(),
  /** Query parameters (case-sensitive names). */
  query: z.record(z.string().min(1), z.union([paramGlobs, z.null()])).optional(),
  /** Request headers (names case-insensitive, values compared as sent). */
  headers: z
    .record(headerName, z.union([paramGlobs, z.null()]))
    .superRefine((h, ctx) => {
      const seen = new Set<string>();
      for (const key of Object.keys(h)) {
        if (seen.has(key.toLowerCase())) ctx.addIssue({ code: 'custom', message: `header ${key} is named twice (names are case-insensitive)`, path: [key] });
        seen.add(key.toLowerCase());
      }
    })
    .optional(),
  /** Tests on the JSON body, all of which must hold. */
  body: z.array(httpBodyTest).min(1).optional(),
});

const filePathGlob = z.string().regex(/^(\/|~\/|~$|\*\*)/, 'expected an absolute path glob (/srv/**), a ~/ glob (legacy scp) or **');
const filePathGlobs = z.union([filePathGlob, z.array(filePathGlob).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));

const sshMatch = z
  .strictObject({
    op: z.array(z.enum(['exec', 'shell', 'sftp', 'forward'])).min(1).optional(),
    /** Every simple command of an exec line runs a program matching one of these globs (allow lists). */
    program: stringList.optional(),
    /** Every simple command of an exec line has some argument matching one of these globs (weak alone: other arguments ride along). */
    args: stringList.optional(),
    /** Every argument that is not a plain option (`-x`, `--flag`) of every simple command matches one of these globs. */
    args_all: stringList.optional(),
    /** Every simple command is exactly these words, each matching its glob in place (the first is the program). */
    argv: z.array(z.string().min(1)).min(1).optional(),
    /** The exec line is exactly one of these strings, as sent. */
    command_line: stringList.optional(),
    /** What commands may run through their own options (`git -c core.pager`, `less`): each launch a command makes matches one of these. */
    launch: stringList.optional(),
    /** Some simple command of an exec line runs a program matching one of these globs, or the line is not understood (deny lists). */
    any_program: stringList.optional(),
    /** SFTP operations (and legacy scp lines): what the request does to its path. */
    file_op: z.array(z.enum(SFTP_OPS)).min(1).optional(),
    /** SFTP operations: the normalised path matches one of these globs (`*` within a segment, `**` any number of segments). */
    path: filePathGlobs.optional(),
    /** Port forwarding: `host:port` globs; for `-L` the destination opened from the host, for `-R` the address the host listens on. */
    destination: stringList.optional(),
    /** Port forwarding: `local` (-L, -W) or `remote` (-R). */
    direction: z.array(z.enum(['local', 'remote'])).min(1).optional(),
  })
  .superRefine((m, ctx) => {
    const forwards = m.destination !== undefined || m.direction !== undefined;
    if (forwards && m.op !== undefined && !m.op.includes('forward')) ctx.addIssue({ code: 'custom', message: 'destination and direction match port forwarding only: add forward to op, or leave op out', path: ['op'] });
    const exec = m.program !== undefined || m.args !== undefined || m.args_all !== undefined || m.argv !== undefined || m.command_line !== undefined || m.any_program !== undefined;
    if (m.launch !== undefined && m.program === undefined && m.args_all === undefined && m.argv === undefined) {
      ctx.addIssue({ code: 'custom', message: 'launch only widens a rule that names its programs: add program, args_all or argv', path: ['launch'] });
    }
    if (forwards && (exec || m.file_op !== undefined || m.path !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'destination and direction (forwarding) cannot be combined with exec or sftp matches in one rule', path: [m.destination !== undefined ? 'destination' : 'direction'] });
    }
    const files = m.file_op !== undefined || m.path !== undefined;
    if (files && m.op !== undefined && !m.op.includes('sftp')) ctx.addIssue({ code: 'custom', message: 'file_op and path match sftp operations only: add sftp to op, or leave op out', path: ['op'] });
    if (files && exec) {
      ctx.addIssue({ code: 'custom', message: 'file_op and path (sftp) cannot be combined with program, args, args_all, argv, command_line or any_program (exec) in one rule', path: [m.file_op !== undefined ? 'file_op' : 'path'] });
    }
  });

const mcpMatch = z.strictObject({ tool: stringList.optional() });

const match = z.strictObject({
  sql: sqlMatch.optional(),
  http: httpMatch.optional(),
  ssh: sshMatch.optional(),
  mcp: mcpMatch.optional(),
});

const mask = z
  .strictObject({
    column: glob.optional(),
    /** A built-in detector, a group (`secrets`) or `custom` (docs/masking.md). */
    detector: z.string().optional(),
    /** A JSON path (`$..email`) masking values in JSON response bodies (docs/masking.md#json-paths). */
    json: z.string().optional(),
    /** `detector: custom` only: the finding's name and its JavaScript regular expression. */
    name: name.optional(),
    pattern: z.string().optional(),
    with: z.enum(['redact', 'partial', 'hash', 'null']),
    deny_in_predicates: z.boolean().default(false),
  })
  .superRefine((m, ctx) => {
    for (const p of maskEntryProblems(m)) ctx.addIssue({ code: 'custom', message: p.message, path: p.path === '' ? [] : [p.path] });
  });

const approvers = z
  .strictObject({
    groups: z.array(z.string().min(1)).min(1),
    min: z.number().int().min(1).default(1),
    all_groups: z.boolean().default(false),
  })
  .default({ groups: ['admins'], min: 1, all_groups: false });

const review = z.strictObject({
  mode: z.enum(['hold', 'defer']).default('hold'),
  /** How long a review waits for a decision (and a held statement with it). */
  timeout: duration.default(120),
  approvers,
  /** An approval lets that exact action run this many times... */
  uses: z.number().int().min(1).max(1000).default(1),
  /** ...within this time after the approval. */
  valid_for: duration.default(3600),
});

/**
 * A just-in-time policy: it applies to a subject only while an approved access request for it
 * is running. `subjects` says who may ask.
 */
const access = z.strictObject({
  approvers,
  /** The longest access a request may ask for. */
  max_duration: duration.default(3600),
  /** How long a request waits for a decision. */
  timeout: duration.default(86400),
});

const rule = z
  .strictObject({
    name: z.string().optional(),
    match: match.optional(),
    then: z.enum(['allow', 'deny', 'review']),
    reason: z.string().optional(),
    review: review.optional(),
  })
  .refine((r) => r.review === undefined || r.then === 'review', { message: 'review settings only go with then: review', path: ['review'] });

const policy = z.strictObject({
  name,
  description: z.string().optional(),
  /** enforce: decisions apply. shadow: decisions are recorded but never block (rollout). */
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
  subjects: z
    .strictObject({ users: z.array(z.string().min(1)).default([]), groups: z.array(z.string().min(1)).default([]) })
    .refine((s) => s.users.length + s.groups.length > 0, 'name at least one user or group (globs such as "*" allowed)'),
  connections: z.array(glob).min(1),
  rules: z.array(rule).min(1),
  masks: z.array(mask).default([]),
  /**
   * Built-in credential masks this policy lifts, by exact column (`pg_catalog.pg_authid.rolpassword`):
   * the only way to let credential material of the upstream through (docs/masking.md).
   */
  reveal_credentials: z
    .array(
      z.string().superRefine((c, ctx) => {
        if (!ALL_CREDENTIAL_COLUMNS.includes(c)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(c)} is not a built-in credential column (exact names, no globs); built-in credential columns: ${ALL_CREDENTIAL_COLUMNS.join(', ')}` });
      }),
    )
    .default([]),
  /** Present: a just-in-time policy (docs/reviews.md). */
  access: access.optional(),
});

/** The embedded demo PostgreSQL (PGlite): no authentication, so loopback only. */
const embeddedPostgres = z.strictObject({
  listen: hostPort
    .refine((v) => isLoopbackHost(v.slice(0, v.lastIndexOf(':'))), 'must be a loopback address (127.0.0.1, ::1 or localhost): the demo database accepts anyone without a password')
    .default('127.0.0.1:15433'),
  /** Persisted between starts, seeded on the first; relative to the working directory. */
  data_dir: z.string().min(1).default('./data/demo-pg'),
  /** PGlite serves one session at a time: how long a second client waits before a clear error
   * (keep it under the PostgreSQL adapter's 10 s upstream connect timeout). */
  queue_timeout: duration.default(5),
});

/** `audit.witness`: where signed chain heads are exported (docs/audit.md, "Witnesses and truncation"). */
const auditWitness = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file'),
    /** Appended to (O_APPEND), one JSON line per head; relative to the working directory. Put it where the store's owner cannot rewrite it. */
    path: z.string().min(1),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    /** Receives a POST with the JSON of a witness line per head. */
    url: z.string().refine((u) => URL.canParse(u) && ['http:', 'https:'].includes(new URL(u).protocol), 'expected an http or https URL'),
    /** Per attempt. */
    timeout: duration.refine((s) => s > 0 && s <= 60, 'expected a duration above 0 and at most 60s').default(5),
    /** Attempts after a failed one (a status other than 2xx, a network error, a timeout). */
    retries: z.number().int().min(0).max(10).default(3),
    /** Extra request headers, e.g. `Authorization: "Bearer ${env:WITNESS_TOKEN}"`. */
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name'), z.string()).default({}),
  }),
  z.strictObject({
    type: z.literal('syslog'),
    /** host:port of the syslog receiver. */
    address: hostPort.refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) >= 1 && Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535, 'expected a port between 1 and 65535'),
    transport: z.enum(['udp', 'tcp']).default('udp'),
    facility: z.enum(Object.keys(SYSLOG_FACILITIES) as [SyslogFacility, ...SyslogFacility[]]).default('auth'),
    /** APP-NAME of the RFC 5424 header. */
    app_name: z.string().regex(/^[\x21-\x7e]{1,48}$/, 'expected 1 to 48 printable ASCII characters without spaces').default('portcullis'),
  }),
]);

export const configSchema = z
  .strictObject({
    listen: listen.default({ api: '127.0.0.1:8700' }),
    /** `sqlite:PATH` (relative to the config file's folder) or `sqlite::memory:`. */
    store: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'expected sqlite:PATH or postgres://...').default('sqlite:./data/portcullis.db'),
    /** Where generated keys and certificates live, relative to the config file's folder. */
    data_dir: z.string().default('./data'),
    vault: z
      .strictObject({
        /** File with the base64 32-byte master key. PORTCULLIS_MASTER_KEY takes precedence. */
        master_key_file: z.string().optional(),
        /** Generate the key file on first start if missing (demo convenience). */
        generate_if_missing: z.boolean().default(false),
      })
      .default({ generate_if_missing: false }),
    identity: identity.default({ local_issuer: { issuer: 'portcullis', audience: 'portcullis', default_ttl: 900, max_ttl: 86400 }, oidc: [], saml: [], admin_groups: ['admins'] }),
    connections: z.array(connectionSchema).default([]),
    policies: z.array(policy).default([]),
    audit: z
      .strictObject({
        /** Earlier spelling of `checkpoint.every_records`. */
        checkpoint_every: z.number().int().min(1).optional(),
        /**
         * A signed checkpoint after `every_records` records (default 1000) or `every_ms`
         * milliseconds (default 1000), whichever comes first, when there is a new record; and at
         * shutdown. Defaults are applied by auditCheckpointSettings().
         */
        checkpoint: z
          .strictObject({
            every_records: z.number().int().min(1).optional(),
            every_ms: z.number().int().min(10).max(3_600_000).optional(),
          })
          .optional(),
        /** Ed25519 private key (PEM) that signs checkpoints; generated under data_dir if absent. */
        signing_key_file: z.string().optional(),
        /** Where each signed checkpoint is exported, outside the store. */
        witness: z.array(auditWitness).default([]),
      })
      .superRefine((a, ctx) => {
        if (a.checkpoint_every !== undefined && a.checkpoint?.every_records !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['checkpoint_every'], message: 'set checkpoint.every_records only (checkpoint_every is its earlier spelling)' });
        }
      })
      .default({ witness: [] }),
    log: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .default({ level: 'info' }),
    shutdown: z.strictObject({ grace: duration.default(10) }).default({ grace: 10 }),
    /** Where approvers are told about reviews (docs/notifications.md). */
    notifications: notificationsSchema.default({ webhooks: [], slack: [] }),
    /** Reviews and access requests (docs/reviews.md). */
    reviews: z
      .strictObject({
        /** Base URL of the admin API as approvers reach it, for links in notices and errors. Default: http://<listen.api>. */
        url: z.string().url().optional(),
        /** Identities in these groups are agents: they can never approve anything. */
        agent_groups: z.array(z.string().min(1)).default(['agents']),
      })
      .default({ agent_groups: ['agents'] }),
    /** Masking settings (docs/masking.md). */
    masking: z
      .strictObject({
        /** Key of the `hash` mask (`${env:...}`, at least 32 characters). Absent: derived from the vault master key. */
        hash_key: secret.min(32, 'use at least 32 characters (openssl rand -base64 32)').optional(),
        /** An output column whose source cannot be established: `mask` it (redact), or `deny` the statement. */
        unknown_lineage: z.enum(['mask', 'deny']).default('mask'),
      })
      .optional(),
    /** An embedded demo PostgreSQL database (PGlite) for trying the gateway without a server. */
    embedded_postgres: embeddedPostgres.optional(),
    /** Settings of the protocol listeners (docs/postgres.md). */
    protocols: z
      .strictObject({
        http: z
          .strictObject({
            /** PEM files: absent, the listener speaks plain HTTP (put it on loopback or behind TLS). */
            tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
            /** Largest request body an agent may send, in bytes (413 beyond). */
            max_request_body: z.number().int().min(0).default(10 * 1024 * 1024),
            /** Request bodies up to this size are recorded (masked as sent); 0: none. */
            record_body: z.number().int().min(0).default(64 * 1024),
          })
          .default({ max_request_body: 10 * 1024 * 1024, record_body: 64 * 1024 }),
        postgres: z
          .strictObject({
            /** PEM files (relative to the working directory, like other paths). Absent: a self-signed pair is generated under data_dir/tls. */
            tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
            /** true: a client that does not start TLS is refused (08P01). */
            require_tls: z.boolean().default(false),
            /** When the token may travel without TLS: never, from loopback clients only, or always. */
            cleartext_password: z.enum(['never', 'loopback', 'always']).default('loopback'),
            /** Largest message a client may send, in bytes (COPY rows, Bind values). */
            max_message_size: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
          })
          .default({ require_tls: false, cleartext_password: 'loopback', max_message_size: 64 * 1024 * 1024 }),
        /** The relay listener (docs/relay.md). */
        relay: z
          .strictObject({
            /** PEM files relays verify the gateway with. Absent: a self-signed pair under data_dir/tls (relays pin its SHA-256). */
            tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
          })
          .optional(),
        /** The MySQL/MariaDB listener (docs/mysql.md). */
        mysql: z
          .strictObject({
            /** PEM files. Absent: a self-signed pair is generated under data_dir/tls. */
            tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
            /** true: a client that does not start TLS is refused (error 3159). */
            require_tls: z.boolean().default(false),
            /** When the token may travel without TLS: never, from loopback clients only, or always. */
            cleartext_password: z.enum(['never', 'loopback', 'always']).default('loopback'),
            /** Largest packet (a command, a long-data chunk) a client may send, in bytes. */
            max_packet_size: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
          })
          .default({ require_tls: false, cleartext_password: 'loopback', max_packet_size: 64 * 1024 * 1024 }),
      })
      .default({
        http: { max_request_body: 10 * 1024 * 1024, record_body: 64 * 1024 },
        postgres: { require_tls: false, cleartext_password: 'loopback', max_message_size: 64 * 1024 * 1024 },
        mysql: { require_tls: false, cleartext_password: 'loopback', max_packet_size: 64 * 1024 * 1024 },
      }),
  });

export type Config = z.output<typeof configSchema>;
export type ConnectionConfig = Config['connections'][number];
export type PolicyConfig = Config['policies'][number];
export type RuleConfig = PolicyConfig['rules'][number];
export type MatchConfig = NonNullable<RuleConfig['match']>;
export type IdentityConfig = Config['identity'];
export type OidcIssuerConfig = IdentityConfig['oidc'][number];
export type SamlIdpConfig = IdentityConfig['saml'][number];
export type LocalIssuerConfig = IdentityConfig['local_issuer'];

/** `audit.checkpoint` with its defaults (and the earlier `checkpoint_every` spelling). */
export function auditCheckpointSettings(audit: Config['audit']): { everyRecords: number; everyMs: number } {
  return { everyRecords: audit.checkpoint?.every_records ?? audit.checkpoint_every ?? 1000, everyMs: audit.checkpoint?.every_ms ?? 1000 };
}
