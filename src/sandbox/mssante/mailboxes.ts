// The demo MSSanté mailboxes (TEST addresses, never real ones): the gateway's BAL APP, the médecin traitant and the
// pharmacie d'officine of the demo fixtures. The CLI defaults (`passerelle document`) and the sandbox both use these.

export const DEMO_MAILBOXES = {
  gateway: 'passerelle@passerelle.demo.mssante.fr',
  mt: 'medecin.traitant@demo.mssante.fr',
  pho: 'pharmacie@demo.mssante.fr',
} as const;

/** Password of a sandbox mailbox created without one (TEST only; documented in docs/mssante-sandbox.md). */
export const DEFAULT_MAILBOX_PASSWORD = 'mssante-demo';
