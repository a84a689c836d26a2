// Entry point bundled into static/vendor/pkijs/pkijs.js: PKI.js and the ASN.1 library it is
// built on, as two namespaces, so that the pages' own modules import one file.
export * as pkijs from "pkijs";
export * as asn1js from "asn1js";
