// Entry of the store's writer thread (see writer-thread.ts for why it is a .mjs file): make
// TypeScript importable in this thread, then run the writer. tsx is resolved from this file's
// location, so it does not matter which directory the gateway was started from.
import { register } from 'tsx/esm/api';

register();
await import('./writer-worker.ts');
