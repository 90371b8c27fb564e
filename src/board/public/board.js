// Coördinatiebord: plain browser JavaScript, no libraries, no inline code (the page's CSP allows none).
// The organisation's secret lives only in this closure, to renew the short-lived token; never in storage.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const STATUS = {
    requested: 'Aangevraagd', received: 'Ontvangen', ready: 'Klaar', accepted: 'Geaccepteerd', 'in-progress': 'In behandeling',
    'on-hold': 'Gepauzeerd', completed: 'Afgerond', cancelled: 'Geannuleerd', rejected: 'Afgewezen', failed: 'Mislukt',
  };
  const RIDE = {
    melding: 'melding', alarmering: 'alarmering', vertrek: 'vertrokken', terPlaatse: 'ter plaatse', vertrekBestemming: 'vertrek naar bestemming',
    aankomstBestemming: 'aankomst bestemming', overdracht: 'overdracht', vrij: 'vrij',
  };
  // A Twiin TA Workflow invitation (row.invitation): the placer invites several, selects one.
  const INVITATION = { invited: 'uitgenodigd', selected: 'geselecteerd', 'not-selected': 'niet geselecteerd' };
  const VVT_PRIORITY = { BINNEN_1_UUR: 'asap', BINNEN_4_UUR: 'urgent', ZELFDE_DAG: 'routine', VOLGENDE_DAG: 'routine' };
  const NS = 'https://handover-gateway.nl/fhir';
  const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
  const GENDER = { male: 'man', female: 'vrouw' };

  // Wall-screen mode (?wand=1): one line per handover, no controls, and pages that turn by themselves every
  // `wissel` seconds (default 10) when not everything fits.
  const params = new URLSearchParams(location.search);
  const WALL = params.get('wand') === '1';
  const PAGE_MS = Math.min(120, Math.max(3, Number(params.get('wissel')) || 10)) * 1000;
  if (WALL) document.documentElement.dataset.wand = '1';

  let session; // { client, secret, token, expiresAt, renewTimer }
  let viewer;
  let lastEventId;
  let controller;
  let retryMs = 500;
  const rows = new Map();
  const fresh = new Set();

  // --- time ---------------------------------------------------------------------------------
  // Every time in the region's zone, whatever zone the screen's PC was left on.
  const pad = (n) => String(n).padStart(2, '0');
  const ZONE = 'Europe/Amsterdam';
  const timeFormat = new Intl.DateTimeFormat('nl-NL', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const clockFormat = new Intl.DateTimeFormat('nl-NL', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const dateTimeFormat = new Intl.DateTimeFormat('nl-NL', { timeZone: ZONE, dateStyle: 'short', timeStyle: 'medium' });
  const hhmm = (iso) => timeFormat.format(new Date(iso));
  const dateTime = (iso) => dateTimeFormat.format(new Date(iso));
  const duration = (ms) => {
    const m = Math.floor(Math.abs(ms) / 60000);
    if (m < 1) return `${Math.floor(Math.abs(ms) / 1000)} s`;
    if (m < 60) return `${m} min`;
    if (m < 48 * 60) return `${Math.floor(m / 60)} u ${pad(m % 60)}`;
    return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} u`;
  };
  const late = (r, now) => r.unanswered && r.urgency.targetMinutes !== null && now - Date.parse(r.received) > r.urgency.targetMinutes * 60000;

  // --- sign-in and token ------------------------------------------------------------------------
  async function fetchToken(client, secret) {
    const res = await fetch('oauth2/token', {
      method: 'POST',
      headers: { Authorization: `Basic ${btoa(`${client}:${secret}`)}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
      credentials: 'omit',
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error_description || body.error || `aanmelden mislukt (${res.status})`);
    return { token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
  }

  function scheduleRenewal() {
    clearTimeout(session.renewTimer);
    const wait = Math.max(5000, session.expiresAt - Date.now() - 30000);
    session.renewTimer = setTimeout(async () => {
      try {
        Object.assign(session, await fetchToken(session.client, session.secret));
        scheduleRenewal();
        connect(); // the stream ends when its token does; continue with the new one, from the last event
      } catch {
        signOut('Uw aanmelding is verlopen; meld opnieuw aan.');
      }
    }, wait);
  }

  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const client = $('client-id').value.trim();
    const secret = $('client-secret').value;
    $('sign-in-error').textContent = '';
    try {
      const t = await fetchToken(client, secret);
      $('client-secret').value = '';
      session = { client, secret, ...t };
      scheduleRenewal();
      rows.clear();
      lastEventId = undefined;
      $('sign-in').hidden = true;
      $('board').hidden = false;
      $('sign-out').hidden = false;
      connect();
      $('overdrachten').focus();
    } catch (err) {
      $('sign-in-error').textContent = `Aanmelden mislukt: ${err.message}`;
    }
  });

  function signOut(message) {
    if (session) clearTimeout(session.renewTimer);
    session = undefined;
    viewer = undefined;
    controller?.abort();
    rows.clear();
    render();
    document.dispatchEvent(new CustomEvent('board:event', { detail: { event: 'signed-out', data: {} } }));
    $('board').hidden = true;
    $('sign-in').hidden = false;
    $('sign-out').hidden = true;
    $('new-request').hidden = true;
    $('viewer').textContent = '';
    setConnection('uit', 'Niet aangemeld');
    $('sign-in-error').textContent = message || '';
  }
  $('sign-out').addEventListener('click', () => signOut());

  // --- the live stream (server-sent events over fetch, so the token goes in a header) --------------
  function setConnection(state, text) {
    const el = $('connection');
    el.dataset.state = state;
    el.textContent = text;
  }

  async function connect() {
    controller?.abort();
    if (!session) return;
    const mine = new AbortController();
    controller = mine;
    const headers = { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    try {
      const res = await fetch('board/events', { headers, signal: mine.signal, cache: 'no-store', credentials: 'omit' });
      if (res.status === 401) return signOut('Uw aanmelding is verlopen; meld opnieuw aan.');
      if (!res.ok || !res.body) throw new Error(`status ${res.status}`);
      setConnection('live', 'Live');
      document.body.dataset.sync = 'connecting';
      retryMs = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
          dispatch(block);
        }
      }
    } catch {
      if (mine.signal.aborted) return;
    }
    if (controller !== mine || !session) return;
    setConnection('weg', 'Verbinding verbroken: opnieuw verbinden…');
    setTimeout(() => { if (controller === mine) connect(); }, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  function dispatch(block) {
    let event = 'message';
    let data = '';
    let id;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
      else if (field === 'id') id = value;
    }
    if (id !== undefined) {
      lastEventId = id;
      document.body.dataset.lastEventId = id;
    }
    if (!data) return;
    const body = JSON.parse(data);
    // The map (map.js) follows the same stream.
    document.dispatchEvent(new CustomEvent('board:event', { detail: { event, data: body } }));
    if (event === 'snapshot') {
      document.body.dataset.sync = 'snapshot';
      viewer = body.viewer;
      showOrganisation(viewer);
      $('new-request').hidden = !viewer.regional;
      rows.clear();
      for (const r of body.rows) rows.set(r.id, r);
      render();
    } else if (event === 'row') {
      const before = rows.get(body.id);
      rows.set(body.id, body);
      fresh.add(body.id);
      announce(before, body);
      render();
    } else if (event === 'remove') {
      const before = rows.get(body.id);
      rows.delete(body.id);
      if (before) announce(before, undefined);
      render();
    }
    if (event === 'caught-up') document.body.dataset.sync = 'catch-up';
  }

  // The header names the organisation, as the directory has it (the Organization with the viewer's URA).
  const organisations = new Map();
  async function showOrganisation(v) {
    const known = organisations.get(v.ura);
    $('viewer').textContent = known ? `— ${known}` : '';
    if (known) return;
    let name;
    try {
      const bundle = await api(`fhir/Organization?identifier=${encodeURIComponent(`${URA}|${v.ura}`)}&_count=1`);
      name = bundle.entry?.[0]?.resource?.name;
    } catch {
      // Not to be read now: the client id says who is signed in until the next snapshot asks again.
    }
    if (name) organisations.set(v.ura, name);
    if (viewer === v) $('viewer').textContent = `— ${name || v.client}`;
  }

  /** `A.J. de J., 75 jr`; an unknown patient as the record describes them: `onbekend (man, ~45 jr)`. */
  function patientText(p, years = 'jr') {
    if (!p) return '—';
    const age = p.age === undefined ? '' : `${p.ageEstimated ? '~' : ''}${p.age} ${years}`;
    if (p.unknown) {
      const what = [GENDER[p.gender], age].filter(Boolean).join(', ');
      return what ? `onbekend (${what})` : 'onbekend';
    }
    return age ? `${p.initials}, ${age}` : p.initials;
  }

  function describe(r) {
    return `${r.urgency.badge}${r.urgency.also ? ` (${r.urgency.also})` : ''} ${r.complaint || r.careNeeds.join(', ') || ''}, ${r.from.name || '?'} naar ${r.to.name || '?'}`;
  }
  function announce(before, after) {
    let text;
    if (!before && after) text = `Nieuwe overdracht: ${describe(after)}`;
    else if (before && !after) text = `Overdracht van het bord: ${describe(before)}`;
    else if (before.status !== after.status) text = `${STATUS[after.status] || after.status}: ${describe(after)}`;
    if (!text) return;
    const p = document.createElement('p');
    p.textContent = text;
    const region = $('announcer');
    region.append(p);
    while (region.childElementCount > 5) region.firstElementChild.remove();
  }

  // --- the table -----------------------------------------------------------------------------------
  function visible(now) {
    const org = $('filter-org').value;
    const urgency = $('filter-urgency').value;
    const status = $('filter-status').value;
    return [...rows.values()]
      .filter((r) => !org || r.from.ura === org || r.to.ura === org)
      .filter((r) => !urgency || String(r.urgency.rank) === urgency)
      .filter((r) => !status || (status === 'open' ? r.unanswered : status === 'late' ? late(r, now) : r.status === status))
      .sort((a, b) => a.urgency.rank - b.urgency.rank || Date.parse(a.received) - Date.parse(b.received));
  }

  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'tabindex' || k === 'datetime') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== undefined && c !== null && c !== '' && c !== false) e.append(c);
    return e;
  };

  function timing(r, now) {
    const age = now - Date.parse(r.received);
    const target = r.urgency.targetMinutes;
    let norm;
    if (target === null) norm = el('span', { class: 'sub' }, 'afgesproken tijd');
    else if (!r.unanswered) norm = el('span', { class: 'sub' }, `beantwoord na ${duration(Date.parse(r.answered || r.lastChange) - Date.parse(r.received))}`);
    else {
      const left = target * 60000 - age;
      norm = left >= 0
        ? el('span', { class: 'num' }, target === 0 ? 'direct' : `nog ${duration(left)}`)
        : el('span', { class: 'num overdue' }, `${duration(left)} te laat`);
    }
    return { age: duration(age), norm, target: target === null ? '' : target === 0 ? 'norm: direct' : `norm: ${duration(target * 60000)}` };
  }

  function responder(r) {
    if (r.ride) return [el('span', {}, `${RIDE[r.ride.step] || r.ride.step} ${hhmm(r.ride.at)}`), r.ride.callSign && el('span', { class: 'sub' }, `eenheid ${r.ride.callSign}`)];
    if (r.visit?.planned) return [el('span', {}, `bezoek ${hhmm(r.visit.planned)}`), el('span', { class: 'sub' }, 'gepland')];
    if (r.visit?.windowStart) return [el('span', {}, `gewenst ${hhmm(r.visit.windowStart)}–${r.visit.windowEnd ? hhmm(r.visit.windowEnd) : ''}`)];
    return ['—'];
  }

  // A group of candidates (row.group): named by its groupIdentifier, or (Twiin invitations without one) by the request they share.
  function groupText(g) {
    return g.by === 'request' ? `uitnodigingen voor ${g.value}` : g.value;
  }

  function rowFor(r, now) {
    const t = timing(r, now);
    const isLate = late(r, now);
    const label = `${r.urgency.label}. ${describe(r)}. ${STATUS[r.status] || r.status}. Wacht ${t.age}.${isLate ? ' Over de norm.' : ''} Enter voor het verloop.`;
    const tr = el('tr', { tabindex: '0', 'data-handover-id': r.id, 'data-colour': r.urgency.colour, 'data-status': r.status, 'aria-label': label, class: [isLate && 'late', fresh.has(r.id) && 'fresh'].filter(Boolean).join(' ') });
    tr.append(
      el('td', { class: 'urgency' }, el('span', { class: 'badge', 'data-colour': r.urgency.colour, title: r.urgency.label }, r.urgency.badge), r.urgency.also && el('span', { class: 'also' }, r.urgency.also)),
      el('td', {}, el('span', { class: 'complaint' }, r.complaint || r.careNeeds.join(', ') || r.request || '—'), el('span', { class: 'sub' }, r.complaint && r.careNeeds.length ? r.careNeeds.join(', ') : r.complaint ? '' : r.careNeeds.length ? r.request || '' : '')),
      el('td', { class: 'patient' }, patientText(r.patient)),
      el('td', { class: 'route' }, r.from.name || '?', el('span', { class: 'arrow', 'aria-hidden': 'true' }, '→'), el('span', { class: 'visually-hidden' }, ' naar '), r.to.name || '?'),
      el('td', {}, el('span', { class: 'status', 'data-status': r.status }, STATUS[r.status] || r.status), r.nativeStatus && r.nativeStatus.toLowerCase() !== (STATUS[r.status] || '').toLowerCase() && r.nativeStatus.toLowerCase() !== r.invitation && el('span', { class: 'sub' }, r.nativeStatus.toLowerCase().replace(/_/g, ' ')), r.invitation && el('span', { class: 'sub', 'data-invitation': r.invitation }, INVITATION[r.invitation] || r.invitation)),
      el('td', { class: 'num age' }, t.age),
      el('td', { class: 'norm' }, t.norm, el('span', { class: 'sub' }, t.target), isLate && el('span', { class: 'warn' }, '⚠ onbeantwoord')),
      el('td', { class: 'responder' }, ...responder(r)),
    );
    tr.addEventListener('click', () => openDetail(r.id));
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openDetail(r.id); }
      if (ev.key === 'ArrowDown') { ev.preventDefault(); tr.nextElementSibling?.focus(); }
      if (ev.key === 'ArrowUp') { ev.preventDefault(); tr.previousElementSibling?.focus(); }
    });
    return tr;
  }

  function render() {
    const now = Date.now();
    const focused = document.activeElement?.dataset?.handoverId;
    const list = visible(now);
    $('rows').replaceChildren(...list.map((r) => rowFor(r, now)));
    fresh.clear();
    if (focused) document.querySelector(`tr[data-handover-id="${CSS.escape(focused)}"]`)?.focus();
    $('empty').hidden = list.length > 0 || $('board').hidden;
    const all = [...rows.values()];
    const lateCount = all.filter((r) => late(r, now)).length;
    $('counts').replaceChildren(el('strong', {}, String(all.length)), ' open', lateCount ? ' · ' : '', lateCount ? el('strong', { class: 'late' }, `${lateCount} over de norm`) : '');
    updateOrgFilter(all);
    paginate();
  }

  // --- wall mode: pages of whole rows that fit the screen, turning by themselves ---------------------------
  let page = 0;
  let pages = [];
  function paginate() {
    if (!WALL) return;
    const trs = [...$('rows').children];
    for (const tr of trs) tr.hidden = false;
    pages = [];
    if (trs.length) {
      // What fits below the first row's top, with a small margin; later pages start where the first did.
      const room = window.innerHeight - trs[0].getBoundingClientRect().top - 8;
      let current = [];
      let top = 0;
      for (const tr of trs) {
        const box = tr.getBoundingClientRect();
        if (current.length && box.bottom - top > room) {
          pages.push(current);
          current = [];
        }
        if (!current.length) top = box.top;
        current.push(tr);
      }
      pages.push(current);
    }
    page = Math.min(page, Math.max(0, pages.length - 1));
    showPage(false);
  }
  function showPage(turned) {
    pages.forEach((rowsOfPage, i) => { for (const tr of rowsOfPage) tr.hidden = i !== page; });
    $('page').textContent = pages.length > 1 ? `blad ${page + 1} van ${pages.length}` : '';
    // A short fade marks the turn; with reduced motion asked for (prefers-reduced-motion) the CSS has none.
    if (turned) {
      const body = $('rows');
      body.classList.remove('turn');
      void body.offsetWidth;
      body.classList.add('turn');
    }
  }
  if (WALL) {
    setInterval(() => {
      if (pages.length < 2) return;
      page = (page + 1) % pages.length;
      showPage(true);
    }, PAGE_MS);
    window.addEventListener('resize', paginate);
  }

  function updateOrgFilter(all) {
    const select = $('filter-org');
    const known = new Map([...select.options].slice(1).map((o) => [o.value, o.textContent]));
    for (const r of all) for (const p of [r.from, r.to]) if (p.ura && !known.has(p.ura)) {
      known.set(p.ura, p.name || p.ura);
      select.append(el('option', { value: p.ura }, p.name || p.ura));
    }
  }
  for (const id of ['filter-org', 'filter-urgency', 'filter-status']) $(id).addEventListener('change', render);

  // Ages and time left move every second; only those cells are touched, so focus and screen readers stay put.
  function tick() {
    const now = new Date();
    $('clock').textContent = clockFormat.format(now);
    $('clock').setAttribute('datetime', now.toISOString());
    let changedLateness = false;
    for (const tr of $('rows').children) {
      const r = rows.get(tr.dataset.handoverId);
      if (!r) continue;
      const t = timing(r, now.getTime());
      tr.querySelector('.age').textContent = t.age;
      const norm = tr.querySelector('.norm');
      norm.firstChild.replaceWith(t.norm);
      if (late(r, now.getTime()) !== tr.classList.contains('late')) changedLateness = true;
    }
    if (changedLateness) render();
  }
  setInterval(tick, 1000);
  tick();

  // --- the API -----------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const res = await fetch(path, { ...options, credentials: 'omit', headers: { Authorization: `Bearer ${session.token}`, Accept: 'application/fhir+json', ...(options.headers || {}) } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const why = (body.issue || []).map((i) => i.diagnostics || i.details?.text).filter(Boolean).join('; ');
      throw new Error(why || `${res.status}`);
    }
    return body;
  }

  // --- detail and cancel ---------------------------------------------------------------------------
  let detailId;
  async function openDetail(id) {
    detailId = id;
    const dialog = $('detail');
    $('detail-message').textContent = '';
    $('detail-timeline').replaceChildren(el('li', {}, 'laden…'));
    // Nothing of the handover shown before stays visible while this one loads.
    $('detail-nearest').hidden = true;
    delete $('detail-nearest').dataset.for;
    $('detail-candidates').replaceChildren();
    if (!dialog.open) dialog.showModal();
    try {
      const { row: r, timeline } = await api(`board/handovers/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
      $('detail-title').textContent = `${r.urgency.badge} ${r.complaint || r.careNeeds.join(', ') || 'Overdracht'}`;
      const facts = [
        ['Urgentie', `${r.urgency.label}${r.urgency.also ? ` (${r.urgency.also})` : ''}`],
        ['Van → naar', `${r.from.name || '?'} → ${r.to.name || '?'}`],
        ['Status', `${STATUS[r.status] || r.status}${r.nativeStatus ? ` (${r.nativeStatus})` : ''}`],
        ...(r.invitation ? [['Uitnodiging', INVITATION[r.invitation] || r.invitation]] : []),
        ...(r.group ? [['Groep', groupText(r.group)]] : []),
        ['Patiënt', patientText(r.patient, 'jaar')],
        ['Zorgvraag', r.careNeeds.join(', ') || '—'],
        ['Verzoek', r.request || '—'],
        ['Ontvangen', dateTime(r.received)],
      ];
      $('detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
      $('detail-timeline').replaceChildren(...timeline.map((i) => el('li', {}, el('time', { datetime: i.at }, dateTime(i.at)), i.kind === 'status' ? (STATUS[i.text.split(' ')[0].replace(/:$/, '')] ? `${STATUS[i.text.split(' ')[0].replace(/:$/, '')]}${i.text.slice(i.text.split(' ')[0].length)}` : i.text) : i.kind === 'ride' ? `ambulance: ${RIDE[i.text] || i.text}` : i.text, i.by ? el('span', { class: 'sub' }, i.by) : '')));
      $('detail-cancel').hidden = !r.mayCancel;
      await showCandidates(id, r);
    } catch (err) {
      $('detail-timeline').replaceChildren(el('li', {}, `Niet te laden: ${err.message}`));
    }
  }

  // --- who is nearest and free (issue 20): Task/{id}/$candidates, and asking one through the same API ---------
  const OPEN = ['requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold'];
  async function showCandidates(id, r) {
    const section = $('detail-nearest');
    const list = $('detail-candidates');
    section.hidden = !OPEN.includes(r.status);
    if (section.hidden) return;
    // Distances need the patient's place (a known postcode area); without one there is nothing to rank by.
    if (!r.place) {
      section.dataset.for = id;
      return list.replaceChildren(el('li', {}, 'Plaats van de patiënt onbekend: geen afstanden.'));
    }
    list.replaceChildren(el('li', {}, 'laden…'));
    try {
      const bundle = await api(`fhir/Task/${encodeURIComponent(id)}/$candidates`);
      if (detailId !== id) return;
      section.dataset.for = id;
      const found = (bundle.entry || []).filter((e) => e.search?.mode === 'match').slice(0, 8);
      if (!found.length) return list.replaceChildren(el('li', {}, 'Geen vrije eenheid van een passende soort.'));
      const ext = (e, name) => (e.search.extension || []).find((x) => x.url.endsWith(name));
      list.replaceChildren(...found.map((e) => {
        const unit = e.resource;
        const km = ext(e, '/location-distance')?.valueDistance?.value;
        const minutes = ext(e, '/estimated-travel-minutes')?.valueDecimal;
        const org = unit.managingOrganization?.display || '';
        const li = el('li', { 'data-unit-id': unit.id }, el('strong', {}, unit.name || unit.id), ` ${unit.type?.[0]?.text || unit.type?.[0]?.coding?.[0]?.display || ''} · ${org} · ${km ?? '?'} km · ~${minutes === undefined ? '?' : Math.round(minutes)} min`);
        // The ZCC asks the unit's organisation with a Task of its own, as the API does (README: Responders on the road).
        if (viewer?.regional && unit.managingOrganization?.reference) {
          const ask = el('button', { type: 'button', class: 'ask' }, `Vraag ${org || 'deze organisatie'}`);
          ask.addEventListener('click', () => askUnit(id, unit, ask));
          li.append(' ', ask);
        }
        return li;
      }));
    } catch (err) {
      list.replaceChildren(el('li', {}, `Niet te bepalen: ${err.message}`));
    }
  }
  async function askUnit(id, unit, button) {
    button.disabled = true;
    try {
      const task = await api(`fhir/Task/${encodeURIComponent(id)}`);
      const orgs = await api(`fhir/Organization?identifier=${encodeURIComponent(`${URA}|${viewer.ura}`)}&_count=1`);
      const me = orgs.entry?.[0]?.resource;
      if (!me) throw new Error('eigen organisatie niet gevonden');
      await api('fhir/Task', {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Task', status: 'requested', intent: 'order', priority: task.priority, code: task.code, focus: task.focus, for: task.for,
          requester: { reference: `Organization/${me.id}` }, owner: { reference: unit.managingOrganization.reference },
          // A group of the ZCC's own: a group belongs to its requester, so the original request stays the requester's.
          groupIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${crypto.randomUUID()}` }, authoredOn: new Date().toISOString(),
        }),
      });
      $('detail-message').textContent = `Aangevraagd bij ${unit.managingOrganization.display || unit.managingOrganization.reference}.`;
    } catch (err) {
      button.disabled = false;
      $('detail-message').textContent = `Aanvragen mislukt: ${err.message}`;
    }
  }
  $('detail').addEventListener('close', () => document.querySelector(`tr[data-handover-id="${CSS.escape(detailId || '')}"]`)?.focus());
  $('detail-cancel').addEventListener('click', async () => {
    if (!detailId || !window.confirm('Deze overdracht annuleren?')) return;
    try {
      await api(`fhir/Task/${encodeURIComponent(detailId)}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }, { op: 'add', path: '/statusReason', value: { text: 'geannuleerd door het coördinatiecentrum' } }]),
      });
      $('detail-message').textContent = 'Geannuleerd.';
      $('detail-cancel').hidden = true;
    } catch (err) {
      $('detail-message').textContent = `Annuleren mislukt: ${err.message}`;
    }
  });

  // --- S4: one request to several VVT candidates, one transaction --------------------------------------
  let directory = [];
  $('new-request').addEventListener('click', async () => {
    $('request-message').textContent = '';
    try {
      const bundle = await api('fhir/Organization?_count=100');
      directory = (bundle.entry || []).map((e) => e.resource);
      const vvts = directory.filter((o) => o.type?.[0]?.coding?.[0]?.code === 'VVT');
      $('rq-candidates').replaceChildren(el('legend', {}, 'Kandidaten (de eerste die accepteert krijgt de aanvraag)'),
        ...vvts.flatMap((o, i) => [el('input', { type: 'checkbox', id: `rq-c${i}`, value: o.id, checked: true }), el('label', { htmlFor: `rq-c${i}` }, o.name)]));
    } catch (err) {
      $('request-message').textContent = `Organisaties niet te laden: ${err.message}`;
    }
    $('request').showModal();
  });

  $('request-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const owners = [...$('rq-candidates').querySelectorAll('input:checked')].map((i) => i.value);
    const me = directory.find((o) => (o.identifier || []).some((i) => i.value === viewer?.ura));
    const family = $('rq-family').value.trim();
    const initials = $('rq-initials').value.trim();
    const birth = $('rq-birth').value;
    const reason = $('rq-reason').value.trim();
    if (!family || !initials || !birth || !reason || owners.length < 1 || !me) {
      $('request-message').textContent = 'Vul achternaam, voorletters, geboortedatum en reden in en kies minstens één kandidaat.';
      return;
    }
    const urgency = $('rq-urgency').value;
    const need = $('rq-need');
    const priority = VVT_PRIORITY[urgency];
    const nativeCode = { extension: [{ url: `${NS}/StructureDefinition/native-code`, valueCoding: { system: `${NS}/CodeSystem/vvt-urgentie`, code: urgency } }] };
    const uuid = () => `urn:uuid:${crypto.randomUUID()}`;
    const patient = uuid();
    const request = uuid();
    const now = new Date().toISOString();
    const group = { system: 'urn:ietf:rfc:3986', value: uuid() };
    const entries = [
      { fullUrl: patient, resource: { resourceType: 'Patient', name: [{ family, given: initials.split(/\.\s*/).filter(Boolean).map((g) => `${g}.`) }], birthDate: birth, gender: $('rq-gender').value }, request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: request,
        resource: {
          resourceType: 'ServiceRequest', identifier: [{ system: 'urn:ietf:rfc:3986', value: uuid() }], status: 'active', intent: 'order', priority, _priority: nativeCode,
          code: { coding: [{ system: `${NS}/CodeSystem/gevraagde-zorg`, code: 'VVT_SPOED', display: 'Spoedeisende zorg door een VVT-organisatie' }] },
          orderDetail: [{ coding: [{ system: `${NS}/CodeSystem/zorgvraag`, code: need.value, display: need.selectedOptions[0].textContent }] }],
          subject: { reference: patient }, requester: { reference: `Organization/${me.id}` }, performer: owners.map((o) => ({ reference: `Organization/${o}` })),
          authoredOn: now, note: [{ text: reason }],
        },
        request: { method: 'POST', url: 'ServiceRequest' },
      },
      ...owners.map((o) => ({
        fullUrl: uuid(),
        resource: {
          resourceType: 'Task', identifier: [{ system: 'urn:ietf:rfc:3986', value: uuid() }], groupIdentifier: group, status: 'requested', intent: 'order', priority, _priority: nativeCode,
          code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
          focus: { reference: request }, for: { reference: patient }, requester: { reference: `Organization/${me.id}` }, owner: { reference: `Organization/${o}` }, authoredOn: now,
        },
        request: { method: 'POST', url: 'Task' },
      })),
    ];
    try {
      await api('fhir', { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }) });
      $('request-message').textContent = `Verstuurd aan ${owners.length} kandidaten.`;
      $('request-form').reset();
      setTimeout(() => $('request').close(), 800);
    } catch (err) {
      $('request-message').textContent = `Versturen mislukt: ${err.message}`;
    }
  });
})();
