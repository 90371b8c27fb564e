import type { ElementDefinition } from '@medplum/fhirtypes';

/** A snapshot as a tree: children by element name, slices beside the element they slice. */
export interface ElementNode {
  readonly id: string;
  /** The last path segment, e.g. `owner` or `value[x]`. */
  readonly name: string;
  element: ElementDefinition;
  readonly children: ElementNode[];
  readonly slices: ElementNode[];
}

function newNode(id: string, name: string, element: ElementDefinition): ElementNode {
  return { id, name, element, children: [], slices: [] };
}

export function buildElementTree(elements: ElementDefinition[]): ElementNode {
  const [first] = elements;
  if (!first?.id || first.id.includes('.')) throw new Error('snapshot does not start with the root element');
  const root = newNode(first.id, first.id, first);
  for (const element of elements.slice(1)) {
    if (!element.id) throw new Error(`snapshot element ${element.path ?? '?'} has no id`);
    const segments = element.id.split('.');
    if (segments[0] !== root.id) throw new Error(`snapshot element ${element.id} is outside ${root.id}`);
    let node = root;
    for (let i = 1; i < segments.length; i++) {
      const [name, sliceName] = segments[i].split(':');
      const last = i === segments.length - 1;
      let child = node.children.find((c) => c.name === name);
      if (!child) {
        if (!last || sliceName) throw new Error(`snapshot element ${element.id} comes before its parent`);
        child = newNode(segments.slice(0, i + 1).join('.'), name, element);
        node.children.push(child);
        break;
      }
      if (sliceName) {
        let slice = child.slices.find((s) => s.element.sliceName === sliceName);
        if (!slice) {
          if (!last) throw new Error(`snapshot element ${element.id} comes before its slice`);
          slice = newNode(segments.slice(0, i + 1).join('.'), name, element);
          child.slices.push(slice);
          break;
        }
        child = slice;
      }
      if (last) throw new Error(`snapshot element ${element.id} appears twice`);
      node = child;
    }
  }
  return root;
}
