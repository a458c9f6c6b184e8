// Answers the upstream server's authentication request with the vaulted credential:
// SCRAM-SHA-256 (pg's own SCRAM client), md5, cleartext, or nothing for trust.
// https://www.postgresql.org/docs/current/sasl-authentication.html
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { AuthCode } from './codec/constants.ts';
import { readSaslMechanisms } from './codec/backend-read.ts';
import { passwordMessage, saslInitialResponse, saslResponse } from './codec/frontend-encode.ts';

interface ScramSession {
  mechanism: string;
  response: string;
  message: string;
}

interface SaslModule {
  startSession(mechanisms: string[], stream?: unknown): ScramSession;
  continueSession(session: ScramSession, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: ScramSession, serverData: string): void;
}

const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as SaslModule;

/** Why an upstream login failed, without any text from the server (which could echo a secret). */
export class UpstreamAuthError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UpstreamAuthError';
  }
}

/** The server asks for a password and the connection has none: an operator's fix, said so. */
export class MissingCredential extends UpstreamAuthError {}

/** One login conversation; `answer` returns the message to send, or null when none is due. */
export class UpstreamAuthenticator {
  readonly #user: string;
  readonly #password: string | undefined;
  #scram: ScramSession | undefined;

  constructor(user: string, password: string | undefined) {
    this.#user = user;
    this.#password = password;
  }

  async answer(code: number, data: Buffer): Promise<Buffer | null> {
    switch (code) {
      case AuthCode.Ok:
        return null;
      case AuthCode.CleartextPassword:
        return passwordMessage(this.#need());
      case AuthCode.Md5Password: {
        // md5(md5(password + user) + salt), hex, prefixed "md5".
        const inner = createHash('md5').update(this.#need() + this.#user, 'utf8').digest('hex');
        const outer = createHash('md5').update(Buffer.concat([Buffer.from(inner), data.subarray(0, 4)])).digest('hex');
        return passwordMessage(`md5${outer}`);
      }
      case AuthCode.Sasl: {
        this.#need();
        // Without a stream pg's client announces "no channel binding" (gs2 header n).
        this.#scram = sasl.startSession(readSaslMechanisms(data));
        return saslInitialResponse(this.#scram.mechanism, this.#scram.response);
      }
      case AuthCode.SaslContinue: {
        if (this.#scram === undefined) throw new UpstreamAuthError('SASL continue without a SASL start');
        await sasl.continueSession(this.#scram, this.#need(), data.toString('utf8'));
        return saslResponse(this.#scram.response);
      }
      case AuthCode.SaslFinal: {
        if (this.#scram === undefined) throw new UpstreamAuthError('SASL final without a SASL start');
        // Proves the server knew the verifier: a fake server cannot complete the exchange.
        sasl.finalizeSession(this.#scram, data.toString('utf8'));
        return null;
      }
      default:
        throw new UpstreamAuthError(`unsupported authentication method ${code}`);
    }
  }

  #need(): string {
    if (this.#password === undefined || this.#password === '') throw new MissingCredential('the server asks for a password and the connection has none');
    return this.#password;
  }
}
