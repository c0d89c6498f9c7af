// The ebRIM writer lives with the documents (src/documents/ebrim.ts): the DMP ITI-41 and the MSSanté XDM METADATA.XML
// write the same SubmitObjectsRequest.
export * from '../../documents/ebrim.js';
