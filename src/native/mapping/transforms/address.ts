// The VVT one-line address `<straat> <huisnummer><toevoeging>, <9999 XX> <plaats>` and structured
// addresses meet in a FHIR Address with the ISO 21090 ADXP part extensions on the line.
import type { Address, Extension } from '@medplum/fhirtypes';

const ADXP = 'http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-';
type LineAddress = Address & { _line?: ({ extension?: Extension[] } | null)[] };

function part(address: LineAddress, name: string): string | undefined {
  return address._line?.[0]?.extension?.find((e) => e.url === ADXP + name)?.valueString;
}

/** One-line VVT address to a structured Address; a line that does not parse is kept as text. */
export function parseAddressLine(value: unknown): LineAddress | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(.+) (\d+)(\S*), (\d{4}) ([A-Z]{2}) (.+)$/.exec(value);
  if (m) {
    const address: LineAddress = {
      line: [`${m[1]} ${m[2]}${m[3]}`],
      _line: [
        {
          extension: [
            { url: `${ADXP}streetName`, valueString: m[1] },
            { url: `${ADXP}houseNumber`, valueString: m[2] },
            ...(m[3] ? [{ url: `${ADXP}buildingNumberSuffix`, valueString: m[3] }] : []),
          ],
        },
      ],
      postalCode: `${m[4]}${m[5]}`,
      city: m[6],
    };
    if (formatAddressLine(address) === value) return address;
  }
  return { text: value };
}

/** Address to the VVT one-line form. */
export function formatAddressLine(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const address = value as LineAddress;
  const street = part(address, 'streetName');
  const number = part(address, 'houseNumber');
  const line = street && number ? `${street} ${number}${part(address, 'buildingNumberSuffix') ?? ''}` : address.line?.[0];
  const pc = address.postalCode && /^\d{4}[A-Z]{2}$/.test(address.postalCode)
    ? `${address.postalCode.slice(0, 4)} ${address.postalCode.slice(4)}`
    : address.postalCode;
  const place = [pc, address.city].filter(Boolean).join(' ');
  if (!line) return place || address.text;
  return place ? `${line}, ${place}` : line;
}
