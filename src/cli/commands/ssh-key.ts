// `portcullis ssh-key`: register, list and revoke the public keys agents log in to the SSH
// listener with. Through the admin API (an admin's PORTCULLIS_TOKEN), so that the running
// gateway, which answers logins from memory, sees a change at once.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { duration } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import { apiClient, apiOption } from '../api-client.ts';
import { collect, configOption } from '../context.ts';
import { isoTime, oneLine, relative, table } from './reviews.ts';

/** A registration as the API returns it (src/identity/ssh-keys.ts sshKeyView); times in ms since the epoch. */
export interface SshKeyJson {
  id: string;
  fingerprint: string;
  type: string;
  public_key: string;
  subject: string;
  groups: string[];
  comment: string | null;
  status: 'active' | 'expired' | 'revoked';
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

// ---- formatting (pure, so the tests can call it without spawning the CLI) ----

function expiry(k: SshKeyJson, now: number): string {
  if (k.status === 'revoked' && k.revoked_at !== null) return `revoked ${relative(k.revoked_at, now)}`;
  if (k.expires_at === null) return 'never';
  return relative(k.expires_at, now);
}

export function formatKeyList(keys: readonly SshKeyJson[], now = Date.now()): string {
  const rows = keys.map((k) => [k.id, k.fingerprint, k.type, k.subject, k.groups.join(',') || '-', k.status, expiry(k, now), oneLine(k.comment ?? '-', 40)]);
  return table(['ID', 'FINGERPRINT', 'TYPE', 'SUBJECT', 'GROUPS', 'STATUS', 'EXPIRES', 'COMMENT'], rows);
}

export function formatAdded(k: SshKeyJson): string {
  return `added ${k.id} ${k.fingerprint} (${k.type}) for ${k.subject} [${k.groups.join(', ')}], ${k.expires_at === null ? 'no expiry' : `expires ${isoTime(k.expires_at)}`}\n`;
}

// ---- the commands ----

async function readKey(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new GatewayError('PCS_SSH_KEY_INVALID', { reason: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
    }
  }
  if (process.stdin.isTTY) process.stderr.write('Paste the public key (the .pub line: ssh-ed25519 AAAA... comment), then Ctrl-D:\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface ApiOpts {
  api?: string;
  config?: string;
}

export function sshKeyCommand(program: Command): void {
  const sshKey = program.command('ssh-key').description('public keys agents log in to the SSH listener with (admin; uses $PORTCULLIS_TOKEN)');

  sshKey
    .command('add')
    .description('register a public key for a subject: read from stdin (`< key.pub`) or --key-file; never send the private key')
    .requiredOption('-s, --subject <name>', 'who a login with this key is (e.g. ci-agent)')
    .option('-g, --group <group>', 'a group of that identity (repeatable); policies match on these', collect, [])
    .option('-e, --expires <duration>', 'the registration ends after this long (e.g. 30d, 12h); default: never')
    .option('-m, --comment <text>', 'what the key is for (default: the comment of the key line)')
    .option('-f, --key-file <file>', 'read the public key from this file instead of stdin')
    .option('--json', 'print JSON')
    .option(...apiOption)
    .option(...configOption)
    .action(async (opts: ApiOpts & { subject: string; group: string[]; expires?: string; comment?: string; keyFile?: string; json?: boolean }) => {
      if (opts.expires !== undefined) {
        const parsed = duration.safeParse(opts.expires);
        if (!parsed.success || parsed.data <= 0) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `--expires ${opts.expires}: expected a duration such as 30d or 12h` });
      }
      // The client first: a missing token is reported before stdin is waited for.
      const client = apiClient(opts);
      const publicKey = await readKey(opts.keyFile);
      const key = await client.post<SshKeyJson>('/api/v1/ssh-keys', {
        subject: opts.subject,
        groups: opts.group,
        public_key: publicKey,
        ...(opts.expires !== undefined ? { expires_in: opts.expires } : {}),
        ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
      });
      process.stdout.write(opts.json ? JSON.stringify(key, null, 2) + '\n' : formatAdded(key));
    });

  sshKey
    .command('list')
    .description('list registered keys, newest first (revoked ones with --all)')
    .option('-s, --subject <name>', 'only the keys of this subject')
    .option('-a, --all', 'include revoked keys')
    .option('--json', 'print JSON')
    .option(...apiOption)
    .option(...configOption)
    .action(async (opts: ApiOpts & { subject?: string; all?: boolean; json?: boolean }) => {
      const q = new URLSearchParams();
      if (opts.subject !== undefined) q.set('subject', opts.subject);
      if (opts.all) q.set('include_revoked', 'true');
      const { ssh_keys: keys } = await apiClient(opts).get<{ ssh_keys: SshKeyJson[] }>(`/api/v1/ssh-keys${q.size > 0 ? `?${q}` : ''}`);
      if (opts.json) process.stdout.write(JSON.stringify(keys, null, 2) + '\n');
      else if (keys.length === 0) process.stdout.write('no ssh keys\n');
      else process.stdout.write(formatKeyList(keys));
    });

  sshKey
    .command('revoke')
    .description('revoke a registered key: logins with it are refused from the next one on')
    .argument('<key>', 'the id (key_...) or fingerprint (SHA256:...) shown by `ssh-key list`')
    .option(...apiOption)
    .option(...configOption)
    .action(async (which: string, opts: ApiOpts) => {
      const key = await apiClient(opts).request<SshKeyJson>('DELETE', `/api/v1/ssh-keys/${encodeURIComponent(which)}`);
      process.stdout.write(`revoked ${key.id} ${key.fingerprint} of ${key.subject}\n`);
    });
}
