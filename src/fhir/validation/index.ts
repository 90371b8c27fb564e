import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { validateBase } from './base-validation.ts';
import { compileProfile } from './compile.ts';
import type { CompileEnvironment } from './compile.ts';
import type { CompiledElement, CompiledProfile } from './compiled.ts';
import { baseDefinitions, stripVersion } from './definitions.ts';
import { checkExtensionInstances } from './extensions.ts';
import { issue } from './issues.ts';
import { isObject } from './json.ts';
import { fileError, readProfileDirectory } from './profile-files.ts';
import { checkItem } from './run.ts';
import type { RunState } from './run.ts';
import { LocalTerminology } from './terminology.ts';
import { HttpError, outcomeOf } from '../outcomes.ts';
import type { WriteHooks } from '../write-phases.ts';

interface LoadedProfile {
  readonly url: string;
  readonly type: string;
  readonly name?: string;
  readonly file: string;
  readonly structureDefinition: StructureDefinition;
  /** Required bindings inherited from R4 that need a terminology server, so are not checked. */
  readonly uncheckedBindings: readonly string[];
}

export interface ProfileValidator {
  /** Base R4 validation plus the profile for the resource's type, if there is one. Empty = valid. */
  validate(resource: Resource): OperationOutcomeIssue[];
  /** Base R4 validation plus the named profile, for `$validate?profile=`. */
  validateAgainst(resource: Resource, profileUrl: string): OperationOutcomeIssue[];
  /** The profile every resource of this type is held to, if any. */
  profileFor(type: string): LoadedProfile | undefined;
  readonly profiles: readonly LoadedProfile[];
}

export function loadProfileValidator(profilesDir: string, options: { verifyFastPath?: boolean } = {}): ProfileValidator {
  const base = baseDefinitions();
  const directory = readProfileDirectory(profilesDir, base);

  const localValueSets = new Map(directory.valueSets.map((vs) => [vs.url ?? '', vs]));
  const localCodeSystems = new Map(directory.codeSystems.map((cs) => [cs.url ?? '', cs]));
  const terminology = new LocalTerminology([
    { valueSet: (url) => localValueSets.get(stripVersion(url)), codeSystem: (url) => localCodeSystems.get(stripVersion(url)) },
    base,
  ]);

  const byUrl = new Map<string, { file: string; definition: StructureDefinition }>();
  for (const p of directory.profiles) {
    const url = p.definition.url as string;
    const earlier = byUrl.get(url);
    if (earlier) throw fileError(p.file, `url ${url} is also declared by ${earlier.file}`);
    byUrl.set(url, p);
  }

  const coreExtensions = new Map<string, CompiledElement | undefined>();
  const env: CompileEnvironment = {
    base,
    terminology,
    typeOfProfile: (url) => byUrl.get(url)?.definition.type ?? base.structureDefinition(url)?.type,
    knowsExtension: (url) => byUrl.get(url)?.definition.type === 'Extension' || base.structureDefinition(url)?.type === 'Extension',
    verifyFastPath: options.verifyFastPath,
  };

  const compiled = new Map<string, CompiledProfile>();
  const loaded = new Map<string, LoadedProfile>();
  const byType = new Map<string, LoadedProfile>();
  for (const { file, definition } of byUrl.values()) {
    let profile: CompiledProfile;
    try {
      profile = compileProfile(definition, env);
    } catch (err) {
      throw fileError(file, (err as Error).message);
    }
    compiled.set(profile.url, profile);
    const info: LoadedProfile = {
      url: profile.url,
      type: profile.type,
      name: definition.name,
      file,
      structureDefinition: definition,
      uncheckedBindings: profile.uncheckedBindings,
    };
    loaded.set(profile.url, info);
    if (profile.type === 'Extension') continue;
    const other = byType.get(profile.type);
    if (other) throw fileError(file, `a second profile for ${profile.type}: ${other.file} already applies to every ${profile.type}`);
    byType.set(profile.type, info);
  }

  // Core extensions (such as humanname-own-prefix) are compiled the first time one is met.
  const extensionFor = (url: string): CompiledElement | undefined => {
    const own = compiled.get(url);
    if (own) return own.type === 'Extension' ? own.root : undefined;
    if (coreExtensions.has(url)) return coreExtensions.get(url);
    const sd = base.structureDefinition(url);
    let root: CompiledElement | undefined;
    if (sd?.type === 'Extension' && sd.url === url) {
      try {
        root = compileProfile(sd, env).root;
      } catch {
        root = undefined;
      }
    }
    coreExtensions.set(url, root);
    return root;
  };

  const run = (resource: Resource, profile: CompiledProfile | undefined): OperationOutcomeIssue[] => {
    const issues = validateBase(resource);
    if (!isObject(resource) || typeof resource.resourceType !== 'string') return issues;
    const state: RunState = { resource, issues };
    if (profile) checkItem(profile.root, resource, undefined, resource.resourceType, state);
    checkExtensionInstances(resource, resource.resourceType, extensionFor, state);
    return issues;
  };

  return {
    profiles: [...loaded.values()],
    profileFor: (type) => byType.get(type),
    validate(resource) {
      const info = isObject(resource) && typeof resource.resourceType === 'string' ? byType.get(resource.resourceType) : undefined;
      return run(resource, info && compiled.get(info.url));
    },
    validateAgainst(resource, profileUrl) {
      const profile = compiled.get(stripVersion(profileUrl));
      const type = isObject(resource) && typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
      if (!profile) return [issue('not-found', type, `Profile ${profileUrl} is not known to this server`)];
      if (profile.type !== type) {
        return [issue('invalid', type, `Profile ${profileUrl} is for ${profile.type}, not ${type}`)];
      }
      return run(resource, profile);
    },
  };
}

/**
 * The `validate` write phase: every version created or updated is held to its profile and the R4 base rules, as
 * the phases before it left it (references made literal, the owner resolved); a deletion is not validated.
 */
export function validationHooks(profiles: Pick<ProfileValidator, 'validate'>): WriteHooks {
  return {
    beforeWrite: async (_w, change) => {
      if (change.interaction === 'delete') return;
      const issues = profiles.validate(change.next);
      // A SHOULD is not a MUST: warnings alone do not refuse; with an error they are part of the refusal.
      if (issues.some((i) => i.severity !== 'warning' && i.severity !== 'information')) throw new HttpError(422, outcomeOf(issues));
      change.warnings.push(...issues);
    },
  };
}
