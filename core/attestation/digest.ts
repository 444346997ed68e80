import type { AttestationDoc } from "../../events/attestation";
import { canonicalJson, sha256Hex } from "../crypto/encoding";

/**
 * The name of one attestation document: sha256 (hex) over its canonical JSON. The SDK keys the
 * verdicts it reached by it, names the documents it holds by it (PrepareRequest.held), and the
 * coordinator keeps that of each worker's current document on its summary item.
 */
export const attestationDigest = (doc: AttestationDoc): string => sha256Hex(canonicalJson(doc));
