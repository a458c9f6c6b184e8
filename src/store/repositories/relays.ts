// Relays an administrator registered (docs/relay.md). A row is created with the hash of a
// one-time enrolment secret; the relay's first connection exchanges that secret for its
// public key, which every later connection must prove (pinning). Revoked rows stay, so the
// audit log's names keep pointing at a row; a name may be added again only once revoked.
export interface StoredRelay {
  readonly name: string;
  /** SHA-256 of the enrolment secret, hex; null once used. */
  readonly secretHash: string | null;
  /** The relay's Ed25519 public key (SPKI, base64); null until enrolled. */
  readonly publicKey: string | null;
  /** Epoch milliseconds, as are the other times. */
  readonly createdAt: number;
  readonly createdBy: string;
  readonly enrolledAt: number | null;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
}

export interface RelayRepository {
  /** Every registration, oldest first. */
  all(): Promise<StoredRelay[]>;
  /** The live (not revoked) registration of `name`. */
  live(name: string): Promise<StoredRelay | undefined>;
  /** False when a live registration of the same name exists. */
  insert(relay: StoredRelay): Promise<boolean>;
  /** Spends the secret whose hash is `secretHash` and pins `publicKey`: false when it was not (still) that secret. */
  enrol(name: string, secretHash: string, publicKey: string, at: number): Promise<boolean>;
  /** Marks the live registration revoked: whether this call flipped it. */
  revoke(name: string, at: number, by: string): Promise<boolean>;
}
