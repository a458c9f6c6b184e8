// Short human-readable descriptions of an action, for generated decision reasons.
import type { Action, SqlStatement } from '../core/action.ts';

export function describeAction(action: Action, statement: SqlStatement | undefined): string {
  switch (action.kind) {
    case 'sql':
      if (statement === undefined) return 'an empty query';
      return statement.error === undefined ? `${statement.effect} (${statement.command})` : `unknown (${statement.error})`;
    case 'http':
      return `${action.method.toUpperCase()} ${action.path}`;
    case 'ssh':
      if (action.op === 'exec') return `exec ${action.command ?? ''}`.trimEnd();
      if (action.op === 'sftp') return action.sftp === undefined ? 'sftp' : `sftp ${action.sftp.op} ${action.sftp.path}`;
      if (action.op === 'forward') return action.forward === undefined ? 'forward' : `forward to ${action.forward.host}:${action.forward.port}`;
      return 'shell';
    case 'mcp':
      return `tool ${action.tool}`;
  }
}
