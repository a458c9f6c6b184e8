// Downstream credentials as the vault sealed them: the store never sees a clear secret.
export interface SealedCredential {
  readonly connection: string;
  /** password | private_key | token */
  readonly kind: string;
  /** The vault's envelope (JSON text). */
  readonly sealed: string;
  readonly updatedAt: number;
  readonly updatedBy: string;
}

export type CredentialInfoRow = Omit<SealedCredential, 'sealed'>;

export interface CredentialRepository {
  /** Insert or replace by connection. */
  put(credential: SealedCredential): Promise<void>;
  get(connection: string): Promise<Pick<SealedCredential, 'kind' | 'sealed'> | undefined>;
  /** Without the sealed secret, ordered by connection. */
  list(): Promise<CredentialInfoRow[]>;
  has(connection: string): Promise<boolean>;
  /** False when there was none. */
  delete(connection: string): Promise<boolean>;
}
