// The local DMP peer (ITI-41 / ITI-18 / ITI-43 over mutual TLS) for tests, the demo and `passerelle sandbox dmp`.
export { startDmpPeer, REGISTRY_PATH, REPOSITORY_PATH, type DmpPeer, type DmpPeerOptions, type InjectedFailure } from './server.js';
export type { EntryStatus, StoredDocument } from './store.js';
