// SSH exec rules that say exactly what they mean: args (some argument), args_all (every
// argument), argv (exact words, each a glob in place), command_line (the exact line), path
// arguments normalised before matching, and launcher options that need a rule's `launch`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type ConnectionRef } from '../../src/policy/decide.ts';
import { sshExecAction } from '../../src/policy/action-from-text.ts';
import type { CompiledPolicies } from '../../src/policy/compile.ts';
import { placeArg } from '../../src/policy/shell/arg-paths.ts';
import { parseConfig } from '../../src/config/load.ts';
import { identity, policiesFrom } from './support.ts';

const WEB: ConnectionRef = { name: 'web-1', type: 'ssh' };
const who = identity('agent', ['agents']);

function policy(rules: string): CompiledPolicies {
  return policiesFrom(`
  - name: p
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
${rules}
      - { name: fallback, then: deny }
`);
}

function verdict(p: CompiledPolicies, line: string, terminal = false): string {
  return decide(p, who, WEB, sshExecAction(line, terminal)).verdict;
}

function table(p: CompiledPolicies, cases: readonly (readonly [string, 'allow' | 'deny' | 'review'])[]): void {
  for (const [line, expected] of cases) assert.equal(verdict(p, line), expected, line);
}

void describe('path arguments as path globs see them', () => {
  void it('normalises ., .. and duplicate slashes; relative words are below ~; some cannot be placed', () => {
    assert.equal(placeArg('/app/../etc/shadow', true), '/etc/shadow');
    assert.equal(placeArg('/app//./README', true), '/app/README');
    assert.equal(placeArg('/../..', true), '/');
    assert.equal(placeArg('notes.txt', true), '~/notes.txt');
    assert.equal(placeArg('./a/../b', true), '~/b');
    assert.equal(placeArg('~/x/../y', true), '~/y');
    assert.equal(placeArg('--file=/app/../etc/x', true), '--file=/etc/x');
    assert.equal(placeArg('-la', true), '-la');
    // Above the home directory, another user's home, or after a cd: not placed.
    assert.equal(placeArg('../../etc/shadow', true), undefined);
    assert.equal(placeArg('~root/.ssh/id_rsa', true), undefined);
    assert.equal(placeArg('notes.txt', false), undefined);
    assert.equal(placeArg('/a\0b', true), undefined);
  });
});

void describe('args: some argument (weak, kept as it was for words; paths now normalised)', () => {
  const p = policy(`      - { match: { ssh: { program: [cat], args: ["/app/*"] } }, then: allow }`);
  void it('takes a line with one matching argument, other arguments ride along', () => {
    table(p, [
      ['cat /app/README', 'allow'],
      ['cat /app/README /etc/shadow', 'allow'], // what `args` means: use args_all to forbid it
      ['cat /app/../etc/shadow', 'deny'],
      ['cat /app//../etc/shadow', 'deny'],
      ['cat /app/$X', 'deny'], // only known at run time
      ['cat /etc/shadow', 'deny'],
    ]);
  });
});

void describe('args_all: every argument that is not a plain option', () => {
  const p = policy(`      - { match: { ssh: { program: [cat, head, tail, ls], args_all: ["/app/*", "~/notes/*"] } }, then: allow }`);
  void it('allows only when every path is inside, after normalisation', () => {
    table(p, [
      ['cat /app/README', 'allow'],
      ['cat /app/a /app/b/c', 'allow'],
      ['head -n5 /app/log', 'allow'], // `-n5` is a plain option
      ['ls -la /app/x', 'allow'],
      ['cat notes/todo', 'allow'], // relative: ~/notes/todo
      ['cat ~/notes/todo', 'allow'],
      ['cat /app/*.log', 'allow'], // a glob names files below what is written
      ['cat /app/README /etc/shadow', 'deny'],
      ['cat /app/../etc/shadow', 'deny'],
      ['cat /app/.*/etc/shadow', 'deny'], // `.*` may be `..`
      ['cat ../../etc/shadow', 'deny'],
      ['cd /etc && cat notes/todo', 'deny'], // cd is not allowed anyway, and the relative path is not placed
      ['cat -- /etc/shadow', 'deny'],
      ['cat --file=/etc/shadow', 'deny'], // an option with a value is judged
      ['cat /app/$(echo x)', 'deny'],
      ['cat "$F"', 'deny'],
      ['echo /app/x | xargs cat', 'deny'], // xargs adds words from its input
      ['tail -n 5 /app/log', 'deny'], // `5` is an argument: args_all does not know options' values
      ['cat', 'allow'], // no argument: nothing to judge (reads its input)
      ['ls /app', 'deny'], // `/app/*` is below /app only
    ]);
  });
  void it('a deny rule takes what it cannot place (fail closed)', () => {
    const d = policy(`      - { match: { ssh: { any_program: ["*"], args: ["/etc/*"] } }, then: deny }
      - { match: { ssh: { program: [cat] } }, then: allow }`);
    const tree = policy(`      - { match: { ssh: { program: [ls], args_all: ["/app/**"] } }, then: allow }`);
    table(tree, [
      ['ls /app', 'allow'],
      ['ls /app/', 'allow'],
      ['ls /application', 'deny'],
    ]);
    table(d, [
      ['cat /tmp/x', 'allow'],
      ['cat /tmp/../etc/passwd', 'deny'],
      ['cat ../../../etc/passwd', 'deny'],
      ['cat $F', 'deny'],
    ]);
  });
});

void describe('argv: exact words, each a glob in place', () => {
  const p = policy(`      - { match: { ssh: { argv: [cat, "/app/*"] } }, then: allow }
      - { match: { ssh: { argv: [systemctl, status, "nginx*"] } }, then: allow }`);
  void it('allows exactly that many words, each matching its own glob', () => {
    table(p, [
      ['cat /app/README', 'allow'],
      ['/bin/cat /app/README', 'allow'],
      ['systemctl status nginx', 'allow'],
      ['systemctl status nginx.service', 'allow'],
      ['cat /app/README /etc/shadow', 'deny'],
      ['cat', 'deny'],
      ['cat /app/../etc/shadow', 'deny'],
      ['cat -n /app/README', 'deny'],
      ['systemctl restart nginx', 'deny'],
      ['systemctl status nginx; id', 'deny'],
      ['cat /app/a | cat /app/b', 'allow'], // every command matches
      ['/tmp/cat /app/README', 'deny'],
    ]);
  });
});

void describe('command_line: the exact line as sent', () => {
  const p = policy(`      - { match: { ssh: { command_line: ["uptime", "df -h /"] } }, then: allow }`);
  void it('allows exactly those lines', () => {
    table(p, [
      ['uptime', 'allow'],
      ['df -h /', 'allow'],
      ['df -h  /', 'deny'],
      ['uptime; id', 'deny'],
      ['uptime ', 'deny'],
    ]);
  });
  void it('with program, both must hold', () => {
    const q = policy(`      - { match: { ssh: { command_line: ["ls /tmp"], program: [ls] } }, then: allow }`);
    table(q, [
      ['ls /tmp', 'allow'],
      ['ls /', 'deny'],
    ]);
  });
});

void describe('programs that run other programs', () => {
  const p = policy(`      - { name: pager-ok, match: { ssh: { program: [git], launch: ["git pager"] } }, then: allow }
      - { match: { ssh: { program: [git, tar, rsync, find, less, vim, awk, sed, perl, python3, node, ssh, zip, journalctl, systemctl, env, cat, sh] } }, then: allow }`);
  void it('treats a launcher option as an unknown program unless the rule names it', () => {
    table(p, [
      ['git status', 'allow'],
      ['git log --oneline', 'allow'],
      ['git -c core.pager=/tmp/x log', 'deny'],
      ['git -c alias.x=!sh x', 'deny'],
      ['git log -c', 'allow'], // after the subcommand -c is a diff format
      ['node -e 1', 'deny'],
      ['node --eval=1', 'deny'],
      ['perl -ne print f', 'deny'],
      ['git -c core.sshCommand=/tmp/x fetch', 'deny'],
      ['git fetch --upload-pack=/tmp/x origin', 'deny'],
      ['git rebase --exec id main', 'deny'],
      ['git rebase -x id main', 'deny'],
      ['git submodule foreach id', 'deny'],
      ['git bisect run ./t', 'deny'],
      ['tar -xf a.tar', 'allow'],
      ['tar -xf a.tar --to-command=sh', 'deny'],
      ['tar --use-compress-program=/tmp/x -xf a', 'deny'],
      ['tar -I /tmp/x -xf a', 'deny'],
      ['tar -cf a.tar --checkpoint=1 --checkpoint-action=exec=sh x', 'deny'],
      ['rsync -a src/ dst/', 'allow'],
      ['rsync -e "sh -c id" a b:c', 'deny'],
      ['rsync -avze ssh a b:c', 'deny'],
      ['rsync --rsync-path=/tmp/x a b:c', 'deny'],
      ['less /var/log/syslog', 'deny'],
      ['vim -es /tmp/x', 'deny'],
      ["awk '{print $1}' f", 'allow'],
      ["awk 'BEGIN{system(\"id\")}'", 'deny'],
      ["awk '{print | \"sh\"}' f", 'deny'],
      ['awk -f prog.awk f', 'deny'],
      ["sed -n 's/a/b/p' f", 'allow'],
      ["sed 's/x/id/e' f", 'deny'],
      ["sed '1e id' f", 'deny'],
      ["sed -e 's/a/b/' -e 'w /tmp/out' f", 'deny'],
      ['sed -f script.sed f', 'deny'],
      ["perl -e 'system(1)'", 'deny'],
      ['perl script.pl', 'allow'],
      ["python3 -c 'import os'", 'deny'],
      ['ssh -o ProxyCommand=id host', 'deny'],
      ['ssh host id', 'deny'],
      ['ssh host', 'allow'],
      ['zip -T -TT "sh -c id" a.zip f', 'deny'],
      ['zip a.zip f', 'allow'],
      ['journalctl -u nginx', 'allow'],
      ['systemctl edit nginx', 'deny'],
      ['PAGER=/tmp/x git log', 'deny'],
      ['env LD_PRELOAD=/tmp/x.so cat f', 'deny'],
      ['find . -name x', 'allow'],
      ['find . -exec id ;', 'deny'], // the command find runs is judged by itself: id is not listed
      ["env sh -c 'vim x'", 'deny'],
    ]);
  });
  void it('pagers only start with a terminal: then git and journalctl launch one', () => {
    assert.equal(verdict(p, 'git log', true), 'allow');
    assert.equal(decide(p, who, WEB, sshExecAction('git log', true)).rule?.name, 'pager-ok');
    assert.equal(verdict(p, 'git --no-pager log', true), 'allow');
    assert.equal(verdict(p, 'journalctl -u nginx', true), 'deny');
    assert.equal(verdict(p, 'journalctl --no-pager -u nginx', true), 'allow');
    assert.deepEqual(sshExecAction('git -c core.pager=x log', true).commands?.[0]?.launches, ['git -c core.pager', 'git pager']);
  });
  void it('a rule that names the launch allows it', () => {
    const q = policy(`      - { match: { ssh: { program: [git], launch: ["git -c color.*"] } }, then: allow }
      - { match: { ssh: { program: [less], launch: [less] } }, then: allow }`);
    table(q, [
      ['git -c color.ui=always log', 'allow'],
      ['git -c color.ui=always -c core.pager=x log', 'deny'],
      ['less /var/log/syslog', 'allow'],
    ]);
  });
  void it('a deny list takes a launcher as a line not understood', () => {
    const q = policy(`      - { match: { ssh: { any_program: [rm] } }, then: deny }
      - { match: { ssh: { program: [git, less], launch: ["*"] } }, then: allow }`);
    table(q, [
      ['git status', 'allow'],
      ['less f', 'deny'],
    ]);
  });
  void it('launch without a program list is refused by the schema', () => {
    assert.throws(
      () =>
        parseConfig(`connections: []
policies:
  - { name: x, subjects: { users: ["*"] }, connections: ["*"], rules: [{ match: { ssh: { launch: ["*"] } }, then: allow }] }`),
      /launch only widens a rule that names its programs/,
    );
  });
});
