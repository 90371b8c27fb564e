// De kaart van het coördinatiebord (issue 20): de regio uit board/region.geojson (met de gateway meegeleverd),
// de eenheden op de weg als symbolen naar soort en status, en de open overdrachten op hun postcodegebied.
// Plain browser JavaScript under the board's CSP: no libraries, no inline code, nothing from elsewhere (tiles
// only when the deployment configures MAP_TILE_URL, whose origin the CSP then allows for images).
// It listens to the board's own stream: board.js hands every event on as a `board:event` DOM event.
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const ZOOM = 12; // world pixels of Web Mercator at this zoom: tiles, if any, line up with them
  const WORLD = 256 * 2 ** ZOOM;
  const KIND = {
    AMBULANCE_A: { shape: 'rect', letter: 'A' },
    AMBULANCE_B: { shape: 'rect', letter: 'B' },
    MMT: { shape: 'diamond', letter: 'M' },
    RAPID_RESPONDER: { shape: 'triangle', letter: 'R' },
    VISITEARTS: { shape: 'circle', letter: 'H' },
    WIJKVERPLEGING: { shape: 'hex', letter: 'V' },
  };
  const units = new Map();
  const handovers = new Map();
  let staleSeconds = 120;
  let tileUrl;
  let view; // { x, y, w, h } in world pixels
  let symbol = 40; // symbol size in world pixels, from the view's width

  const x = (lon) => ((lon + 180) / 360) * WORLD;
  const y = (lat) => {
    const r = (lat * Math.PI) / 180;
    return ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * WORLD;
  };
  const node = (name, attrs = {}, ...children) => {
    const n = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) n.setAttribute(k, String(v));
    for (const c of children) if (c) n.append(c);
    return n;
  };
  const svg = () => $('map-svg');
  const layer = (id) => $(id);

  // --- the region ------------------------------------------------------------------------------
  async function loadRegion() {
    const res = await fetch('board/region.geojson', { credentials: 'omit' });
    const region = await res.json();
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const visit = (c) => {
      if (typeof c[0] === 'number') {
        minX = Math.min(minX, x(c[0])); maxX = Math.max(maxX, x(c[0]));
        minY = Math.min(minY, y(c[1])); maxY = Math.max(maxY, y(c[1]));
      } else c.forEach(visit);
    };
    for (const f of region.features) visit(f.geometry.coordinates);
    const margin = (maxX - minX) * 0.04;
    view = { x: minX - margin, y: minY - margin, w: maxX - minX + 2 * margin, h: maxY - minY + 2 * margin };
    symbol = view.w / 30;
    svg().setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    svg().style.setProperty('--stroke', String(symbol / 10));
    const path = (coords) => coords.map((c, i) => `${i ? 'L' : 'M'}${x(c[0]).toFixed(1)} ${y(c[1]).toFixed(1)}`).join(' ');
    const base = layer('map-region');
    base.replaceChildren();
    for (const f of region.features) {
      const p = f.properties || {};
      if (f.geometry.type === 'Polygon') base.append(node('path', { d: f.geometry.coordinates.map((ring) => `${path(ring)} Z`).join(' '), class: `area ${p.kind || ''}` }, node('title', {}, p.name || '')));
      else if (f.geometry.type === 'LineString') base.append(node('path', { d: path(f.geometry.coordinates), class: `line ${p.kind || ''}` }));
      else if (f.geometry.type === 'Point') {
        const [lon, lat] = f.geometry.coordinates;
        base.append(node('circle', { cx: x(lon), cy: y(lat), r: symbol / 6, class: 'seat' }), node('text', { x: x(lon) + symbol / 3, y: y(lat) - symbol / 3, class: 'place-name', 'font-size': symbol * 0.55 }, p.name || ''));
      }
    }
    $('map-source').textContent = region.description ? region.description.split(':')[0] : '';
    if (tileUrl) drawTiles();
    for (const u of units.values()) placeUnit(u);
    drawHandovers();
  }

  function drawTiles() {
    if (!view || !tileUrl) return;
    const z = 10;
    const scale = 2 ** (ZOOM - z);
    const tiles = layer('map-tiles');
    tiles.replaceChildren();
    for (let tx = Math.floor(view.x / 256 / scale); tx <= Math.floor((view.x + view.w) / 256 / scale); tx++) {
      for (let ty = Math.floor(view.y / 256 / scale); ty <= Math.floor((view.y + view.h) / 256 / scale); ty++) {
        tiles.append(node('image', { href: tileUrl.replace('{z}', z).replace('{x}', tx).replace('{y}', ty), x: tx * 256 * scale, y: ty * 256 * scale, width: 256 * scale, height: 256 * scale }));
      }
    }
  }

  // --- units -------------------------------------------------------------------------------------
  function shapeOf(kind) {
    const s = symbol / 2;
    switch ((KIND[kind] || {}).shape) {
      case 'rect': return node('rect', { x: -s, y: -s * 0.75, width: 2 * s, height: 1.5 * s, rx: s / 4, class: 'shape' });
      case 'diamond': return node('polygon', { points: `0,${-s} ${s},0 0,${s} ${-s},0`, class: 'shape' });
      case 'triangle': return node('polygon', { points: `0,${-s} ${s},${s * 0.8} ${-s},${s * 0.8}`, class: 'shape' });
      case 'hex': return node('polygon', { points: [0, 1, 2, 3, 4, 5].map((i) => `${(s * Math.cos((Math.PI / 3) * i)).toFixed(1)},${(s * Math.sin((Math.PI / 3) * i)).toFixed(1)}`).join(' '), class: 'shape' });
      default: return node('circle', { r: s, class: 'shape' });
    }
  }

  const isStale = (u, now = Date.now()) => now - Date.parse(u.fixTime) > staleSeconds * 1000;
  const hhmm = (iso) => new Date(iso).toLocaleTimeString('nl-NL', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  function labelOf(u, stale) {
    return `${u.kindLabel} ${u.callSign}${u.organization ? ` (${u.organization})` : ''}: ${u.statusLabel}${stale ? ', positie verouderd' : ''}, positie van ${hhmm(u.fixTime)}`;
  }

  function placeUnit(u) {
    let g = document.querySelector(`#map-units g[data-unit-id="${CSS.escape(u.id)}"]`);
    if (!g) {
      g = node('g', { class: 'unit', 'data-unit-id': u.id, tabindex: '0', role: 'img' });
      layer('map-units').append(g);
    }
    if (g.dataset.kind !== u.kind || g.dataset.drawnAt !== String(symbol)) {
      g.replaceChildren(shapeOf(u.kind), node('text', { class: 'letter', 'text-anchor': 'middle', 'dominant-baseline': 'central', 'font-size': symbol * 0.55 }, (KIND[u.kind] || {}).letter || '?'),
        node('text', { class: 'call-sign', x: symbol * 0.65, y: symbol * 0.2, 'font-size': symbol * 0.5 }, u.callSign));
      g.dataset.drawnAt = String(symbol);
    }
    const stale = isStale(u);
    g.dataset.kind = u.kind;
    g.dataset.status = u.status;
    g.dataset.available = String(u.available);
    g.dataset.stale = String(stale);
    g.dataset.lat = String(u.lat);
    g.dataset.lon = String(u.lon);
    g.setAttribute('transform', `translate(${x(u.lon).toFixed(1)} ${y(u.lat).toFixed(1)})`);
    g.setAttribute('aria-label', labelOf(u, stale));
  }

  function refreshStale() {
    const now = Date.now();
    for (const u of units.values()) {
      const g = document.querySelector(`#map-units g[data-unit-id="${CSS.escape(u.id)}"]`);
      const stale = isStale(u, now);
      if (g && g.dataset.stale !== String(stale)) {
        g.dataset.stale = String(stale);
        g.setAttribute('aria-label', labelOf(u, stale));
      }
    }
    $('map-counts').textContent = `${units.size} eenheden, ${[...units.values()].filter((u) => u.available && !isStale(u, now)).length} beschikbaar`;
  }

  // --- handovers ---------------------------------------------------------------------------------
  function drawHandovers() {
    const g = layer('map-handovers');
    g.replaceChildren();
    if (!view) return;
    const atPlace = new Map();
    const list = [...handovers.values()].filter((r) => r.place).sort((a, b) => a.urgency.rank - b.urgency.rank || a.received.localeCompare(b.received));
    for (const r of list) {
      const key = `${r.place.lat},${r.place.lon}`;
      const i = atPlace.get(key) || 0;
      atPlace.set(key, i + 1);
      // Several handovers in one area: around its centre, not on top of each other.
      const angle = i * 2.4;
      const dist = i === 0 ? 0 : symbol * 1.1 * Math.sqrt(i);
      const hx = x(r.place.lon) + Math.cos(angle) * dist;
      const hy = y(r.place.lat) + Math.sin(angle) * dist;
      const s = symbol * 0.6;
      const label = `Overdracht ${r.urgency.badge} ${r.complaint || (r.careNeeds || []).join(', ') || ''} in ${r.place.name}, ${r.from.name || '?'} naar ${r.to.name || '?'}. Enter voor het verloop.`;
      const h = node('g', { class: 'handover', 'data-handover-id': r.id, 'data-colour': r.urgency.colour, transform: `translate(${hx.toFixed(1)} ${hy.toFixed(1)})`, tabindex: '0', role: 'button', 'aria-label': label },
        node('path', { d: `M0 ${s * 1.2} L${-s} ${-s * 0.2} A${s} ${s} 0 1 1 ${s} ${-s * 0.2} Z`, class: 'pin' }),
        node('text', { class: 'badge-text', 'text-anchor': 'middle', y: -s * 0.25, 'dominant-baseline': 'central', 'font-size': s * 0.9 }, r.urgency.badge));
      const open = () => document.querySelector(`tr[data-handover-id="${CSS.escape(r.id)}"]`)?.click();
      h.addEventListener('click', open);
      h.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); } });
      g.append(h);
    }
  }

  // --- the board's stream --------------------------------------------------------------------------
  document.addEventListener('board:event', (ev) => {
    const { event, data } = ev.detail;
    if (event === 'units') {
      staleSeconds = data.staleSeconds || staleSeconds;
      if (data.tileUrl !== tileUrl) { tileUrl = data.tileUrl; drawTiles(); }
      units.clear();
      layer('map-units').replaceChildren();
      for (const u of data.units) { units.set(u.id, u); placeUnit(u); }
      refreshStale();
      document.body.dataset.mapUnits = 'ready';
    } else if (event === 'unit') {
      units.set(data.id, data);
      placeUnit(data);
      refreshStale();
    } else if (event === 'snapshot') {
      handovers.clear();
      for (const r of data.rows) handovers.set(r.id, r);
      drawHandovers();
    } else if (event === 'row') {
      handovers.set(data.id, data);
      drawHandovers();
    } else if (event === 'remove') {
      handovers.delete(data.id);
      drawHandovers();
    } else if (event === 'signed-out') {
      units.clear();
      handovers.clear();
      layer('map-units').replaceChildren();
      drawHandovers();
      delete document.body.dataset.mapUnits;
    }
  });

  setInterval(refreshStale, 2000);
  loadRegion().catch(() => { $('map-source').textContent = 'Regiokaart niet te laden'; });
})();
