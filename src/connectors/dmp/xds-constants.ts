// The XDS / ebRIM names live with the documents (src/documents/xds-constants.ts), shared by the DMP and MSSanté routes.
export * from '../../documents/xds-constants.js';
