/**
 * The identifier systems the gateway writes and matches on, each in one place: a system restated by hand in
 * a second module is a typo away from a lookup that silently finds nothing.
 */

/** URA: the Dutch register of healthcare providers' organisations (UZI-register). */
export const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
/** BSN: the citizen service number. */
export const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
/** AGB-Z: the healthcare providers' code (Vektis). */
export const AGB_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/agb-z';
/** BIG: the register of individual healthcare professionals. */
export const BIG_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/big';

/** The gateway's own: a registered client (SMART client id). */
export const CLIENT_SYSTEM = 'https://handover-gateway.nl/fhir/NamingSystem/client-id';

/** The gateway's own: a native record, as `${NATIVE_RECORD_SYSTEM}/${format}/${senderUra}` with `${recordId}#${sequence}`. */
export function nativeRecordSystem(format: string, senderUra: string): string {
  return `https://handover-gateway.nl/fhir/NamingSystem/native-record/${format}/${senderUra}`;
}
