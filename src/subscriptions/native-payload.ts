import type { Bundle } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import { HttpError } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { loadHandoverView } from '../handover/view.ts';
import type { NativeMapper } from '../native/mapping/index.ts';
import type { NativeFormat } from '../native/types.ts';

/** Renders the handover with its Task at `version` (the event's), or the current one when absent. */
export type RenderNative = (ura: string, format: NativeFormat | 'az-ig', handoverId: string, version?: string) => Promise<string | undefined>;

/** The handover as an AZ-IG referral message (src/messaging/render.ts), read through the subscriber's repository. */
export type RenderMessage = (repo: Repository, handoverId: string) => Promise<Bundle>;

/** The subscriber's read-only view: what it could GET itself, nothing more. */
function subscriberContext(ura: string, subscriptionId: string): RequestContext {
  return { organizationUra: ura, clientId: `subscription:${subscriptionId}`, scopes: ['system/*.rs'], roles: [], requestId: `subscription-${subscriptionId}` };
}

/**
 * A native notification's body: exactly what `GET /native/{format}/{handoverId}` gives the subscriber,
 * rendered from its perspective. Undefined when it may not read the handover (any more).
 */
export function nativeRenderer(repository: (ctx: RequestContext) => Repository, mapper: NativeMapper, renderMessage?: RenderMessage): RenderNative {
  return async (ura, format, handoverId, taskVersion) => {
    try {
      if (format === 'az-ig') {
        if (!renderMessage) throw new Error('AZ-IG payloads need the message renderer');
        // The message is the referral's content, the same at every event of the handover.
        return JSON.stringify(await renderMessage(repository(subscriberContext(ura, 'render')), handoverId));
      }
      const { view, perspective, version } = await loadHandoverView(repository(subscriberContext(ura, 'render')), handoverId, taskVersion);
      return JSON.stringify(mapper.render(format, view, perspective, version));
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return undefined;
      throw err;
    }
  };
}
