// The checks of a received message that need no database: the IG's rules, the referral and its patient, the letter's
// patient, the attachments (type, size, bytes, hash).
import { createHash } from 'node:crypto';
import type { Attachment, Bundle, Composition, DocumentReference, ServiceRequest } from '@medplum/fhirtypes';
import { HttpError, outcome, outcomeOf } from '../fhir/outcomes.ts';
import { parseMessage, type MessageEntry, type ParsedMessage } from './message.ts';
import type { MessageRules } from './rules.ts';

/** A refusal of the message, naming the element at fault. */
export function err422(diagnostics: string, element: string, code: 'business-rule' | 'not-found' | 'invalid' | 'required' = 'business-rule'): HttpError {
  return new HttpError(422, outcome(code, diagnostics, [element]));
}

/** Checks what needs no database: the IG's rules, references, the letter's patient, the attachment. */
export function checkMessage(body: unknown, rules: MessageRules): ParsedMessage {
  const bundle = body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw new HttpError(400, outcome('invalid', 'A message is a Bundle of type message', ['Bundle']));
  const issues = rules.check(bundle);
  if (issues.length > 0) throw new HttpError(422, outcomeOf(issues));
  const message = parseMessage(bundle);
  const sr = focusOf(message);
  const patient = message.targetOf(sr, sr.resource.subject?.reference);
  if (patient?.resource.resourceType !== 'Patient') throw err422('ServiceRequest.subject must be the Patient of the message', `Bundle.entry[${sr.index}].resource.subject`, 'required');
  for (const c of message.ofType<Composition>('Composition')) {
    // The letter is about the referral's patient: a letter about nobody, or about someone else, is refused.
    if (message.targetOf(c, c.resource.subject?.reference) !== patient) {
      throw err422('The letter (Composition) must be about the patient of the referral (ServiceRequest.subject)', `Bundle.entry[${c.index}].resource.subject`, 'required');
    }
  }
  for (const d of message.ofType<DocumentReference>('DocumentReference')) {
    d.resource.content.forEach((c, i) => checkAttachment(c.attachment, `Bundle.entry[${d.index}].resource.content[${i}].attachment`, rules));
  }
  return message;
}

/** The referral ServiceRequest the MessageHeader is about. */
export function focusOf(message: ParsedMessage): MessageEntry & { resource: ServiceRequest } {
  const headerEntry = message.entries[0];
  const target = message.targetOf(headerEntry, message.header.focus?.[0]?.reference);
  if (target?.resource.resourceType !== 'ServiceRequest') throw err422('MessageHeader.focus must be the referral ServiceRequest of the message', 'Bundle.entry[0].resource.focus', 'required');
  return target as MessageEntry & { resource: ServiceRequest };
}

function checkAttachment(attachment: Attachment, element: string, rules: MessageRules): void {
  const { maxBytes, contentTypes } = rules.attachment;
  const type = (attachment.contentType ?? '').split(';')[0].trim().toLowerCase();
  const magic = contentTypes[type];
  if (magic === undefined) {
    throw err422(`The attachment's contentType ${attachment.contentType ?? '(none)'} is not accepted; accepted: ${Object.keys(contentTypes).join(', ')}`, `${element}.contentType`, 'invalid');
  }
  const data = attachment.data ?? '';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw err422('The attachment data is not base64', `${element}.data`, 'invalid');
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > maxBytes) {
    throw new HttpError(413, outcome('too-costly', `The attachment is ${bytes.length} bytes; at most ${maxBytes} are accepted`, [`${element}.data`]));
  }
  if (!bytes.subarray(0, magic.length).equals(Buffer.from(magic, 'latin1'))) throw err422(`The attachment's bytes are not ${type}`, `${element}.data`, 'invalid');
  if (attachment.size !== undefined && attachment.size !== bytes.length) throw err422(`Attachment.size says ${attachment.size}, the data is ${bytes.length} bytes`, `${element}.size`, 'invalid');
  if (attachment.hash !== undefined && attachment.hash !== createHash('sha1').update(bytes).digest('base64')) throw err422('Attachment.hash is not the SHA-1 of the data', `${element}.hash`, 'invalid');
}
