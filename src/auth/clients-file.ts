import { readFile } from 'node:fs/promises';
import { validateRegistration } from './clients.ts';
import type { ClientRegistration } from './types.ts';

/**
 * Reads a JSON array of client registrations (see config/clients.example.json) and checks every
 * entry, so a bad file stops start-up with the offending client named instead of half-registering.
 * The caller registers them (`AuthService.registerClient`).
 */
export async function loadClientsFile(path: string): Promise<ClientRegistration[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read clients file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(parsed)) throw new Error(`Clients file ${path} must contain a JSON array of registrations`);
  const clients = parsed.map((entry: unknown, i) => {
    try {
      return validateRegistration(entry);
    } catch (err) {
      throw new Error(`Clients file ${path}, entry ${i}: ${(err as Error).message}`, { cause: err });
    }
  });
  const ids = new Set<string>();
  for (const c of clients) {
    if (ids.has(c.clientId)) throw new Error(`Clients file ${path}: client '${c.clientId}' appears twice`);
    ids.add(c.clientId);
  }
  return clients;
}
