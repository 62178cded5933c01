// imgfcgi playground: builds imgproxy URLs, shows the result, charts the memory figures.
// Plain browser JavaScript, no libraries; served by imgfcgi itself (src/playground.c).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  // The directory this page is served from: "/" or IMGPROXY_PATH_PREFIX + "/".
  const base = location.pathname.replace(/memory$/, '').replace(/\/?$/, '/');
  const POLL_MS = 1000;
  const MAX_POINTS = 120;
  const state = { stats: null, points: [], loadRunning: false };

  // ---- URL building ------------------------------------------------------------------------

  function b64url(text) {
    const bytes = new TextEncoder().encode(text);
    let bin = '';
    bytes.forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function num(id) {
    const v = Number($(id).value);
    return Number.isFinite(v) && v > 0 ? v : 0;
  }

  // The processing options of the form, as imgproxy URL segments.
  function optionSegments() {
    const seg = [];
    const w = num('width');
    const h = num('height');
    if (w || h) seg.push(`rs:${$('rt').value}:${w}:${h}`);
    if ($('gravity').value) seg.push(`g:${$('gravity').value}`);
    if ($('enlarge').checked) seg.push('el:1');
    if ($('extend').checked) seg.push('ex:1');
    if (num('quality')) seg.push(`q:${num('quality')}`);
    if (num('blur')) seg.push(`bl:${num('blur')}`);
    if (num('sharpen')) seg.push(`sh:${num('sharpen')}`);
    if (num('rotate')) seg.push(`rot:${num('rotate')}`);
    if ($('use-background').checked) seg.push(`bg:${$('background').value.slice(1)}`);
    if (num('padding')) seg.push(`pd:${num('padding')}`);
    if ($('watermark').value) seg.push(`wm:${$('watermark').value}`);
    if ($('strip').checked) seg.push('sm:1');
    return seg;
  }

  function source() {
    const pasted = $('source').value.trim();
    return pasted || $('sample').value;
  }

  // The path after the signature, plain and base64 forms.
  function buildPaths(seg, src, fmt) {
    const opts = seg.length ? `/${seg.join('/')}` : '';
    const escaped = encodeURI(src).replace(/[?#@]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    return {
      plain: `${opts}/plain/${escaped}${fmt ? '@' + fmt : ''}`,
      base64: `${opts}/${b64url(src)}${fmt ? '.' + fmt : ''}`,
    };
  }

  // The signature for path: "insecure" without a key, else the server's (the key stays there).
  async function sign(path) {
    if (!state.stats || !state.stats.signed) return 'insecure';
    const r = await fetch(`${base}playground/sign?path=${encodeURIComponent(path)}`,
      { cache: 'no-store', referrerPolicy: 'same-origin' });
    if (!r.ok) throw new Error(`signing refused: ${r.status} ${(await r.text()).trim()}`);
    return (await r.json()).signature;
  }

  async function signedUrl(path) {
    return `${base}${await sign(path)}${path}`;
  }

  // ---- the result --------------------------------------------------------------------------

  function showError(msg) {
    $('r-status').textContent = msg;
    $('r-status').className = 'error';
  }

  async function processForm(ev) {
    if (ev) ev.preventDefault();
    const paths = buildPaths(optionSegments(), source(), $('format').value);
    $('url-plain').textContent = paths.plain;
    $('url-base64').textContent = paths.base64;
    let url;
    try {
      url = await signedUrl(paths.plain);
    } catch (e) {
      showError(e.message);
      return;
    }
    const link = $('result-url');
    link.textContent = new URL(url, location.href).href;
    link.href = url;
    const t0 = performance.now();
    const r = await fetch(url, { cache: 'no-store' });
    const blob = await r.blob();
    const ms = performance.now() - t0;
    $('r-status').className = r.ok ? '' : 'error';
    $('r-status').textContent = `${r.status} ${r.statusText}`;
    $('r-bytes').textContent = blob.size.toLocaleString('en');
    $('r-type').textContent = r.headers.get('Content-Type') || '';
    $('r-time').textContent = `${ms.toFixed(0)} ms`;
    const lines = [];
    r.headers.forEach((v, k) => lines.push(`${k}: ${v}`));
    $('r-headers').textContent = lines.sort().join('\n');
    const img = $('result-img');
    const old = img.src;
    if (!r.ok || !blob.type.startsWith('image/')) {
      img.removeAttribute('src');
      $('r-size').textContent = '';
      img.dataset.done = url;
      return;
    }
    img.onload = () => {
      $('r-size').textContent = `${img.naturalWidth} × ${img.naturalHeight}`;
      img.dataset.done = url;
    };
    img.src = URL.createObjectURL(blob);
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  }

  // ---- the bounded load --------------------------------------------------------------------

  const LOAD_REQUESTS = 200;
  const LOAD_MIX = [
    '/rs:fit:300:300/plain/local:///photo.jpg',
    '/rs:fill:200:200/g:sm/plain/local:///photo.jpg@webp',
    '/rs:fit:800:800/plain/local:///photo.jpg@png',
    '/rs:fit:150:150/plain/local:///alpha.png',
    '/rs:fit:400:0/plain/local:///alpha.png@avif',
    '/w:300/plain/local:///orientation-6.jpg',
    '/rs:fit:100:100/plain/local:///photo.webp@jpg',
    '/rs:fill:640:480/bl:2/plain/local:///photo.jpg',
  ];

  async function runLoad() {
    if (state.loadRunning) return;
    state.loadRunning = true;
    $('load').disabled = true;
    const status = $('load-status');
    let urls;
    try {
      urls = await Promise.all(LOAD_MIX.map(signedUrl));
    } catch (e) {
      status.textContent = e.message;
      status.className = 'error';
      state.loadRunning = false;
      $('load').disabled = false;
      return;
    }
    const conc = Math.max(1, Math.min(64, Number($('concurrency').value) || 1));
    let next = 0, done = 0, errors = 0;
    const t0 = performance.now();
    status.className = '';
    const worker = async () => {
      while (next < LOAD_REQUESTS) {
        const url = urls[next++ % urls.length];
        try {
          const r = await fetch(url, { cache: 'no-store' });
          await r.arrayBuffer();
          if (!r.ok) errors++;
        } catch (e) {
          errors++;
        }
        done++;
        status.textContent = `running: ${done}/${LOAD_REQUESTS}, errors ${errors}`;
      }
    };
    await Promise.all(Array.from({ length: conc }, worker));
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    status.textContent = `done: ${done}/${LOAD_REQUESTS}, errors ${errors}, ${s} s at concurrency ${conc}`;
    status.dataset.done = String(done);
    status.dataset.errors = String(errors);
    state.loadRunning = false;
    $('load').disabled = false;
  }

  // ---- charts ------------------------------------------------------------------------------

  function fmtBytes(v) {
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
  }

  // A line chart of series [{name, color, key}] over state.points, y from 0.
  // Counts (integer) get whole-number grid steps.
  function drawChart(canvas, series, fmt, integer) {
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || canvas.width;
    const cssH = canvas.height / (canvas.dataset.dpr ? Number(canvas.dataset.dpr) : 1);
    if (!canvas.dataset.dpr || Number(canvas.dataset.dpr) !== dpr || canvas.width !== Math.round(cssW * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      canvas.style.height = `${cssH}px`;
      canvas.dataset.dpr = String(dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const W = cssW, H = cssH, left = 70, right = 10, top = 22, bottom = 18;
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    const pts = state.points;
    let max = 1;
    pts.forEach((p) => series.forEach((s) => { max = Math.max(max, p[s.key] || 0); }));
    max *= 1.1;
    if (integer) max = 4 * Math.max(1, Math.ceil(max / 4));
    // grid and y labels
    ctx.strokeStyle = '#e4e4e4';
    ctx.fillStyle = '#666';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = top + (H - top - bottom) * (1 - i / 4);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(W - right, y);
      ctx.stroke();
      ctx.fillText(fmt(max * i / 4), left - 6, y);
    }
    // x axis: seconds ago
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const span = MAX_POINTS;
    for (let s = 0; s <= span; s += 30) {
      const x = W - right - (W - left - right) * s / span;
      ctx.fillText(s ? `-${s}s` : 'now', x, H - bottom + 4);
    }
    // series
    const xOf = (i) => W - right - (W - left - right) * (pts.length - 1 - i) / span;
    const yOf = (v) => top + (H - top - bottom) * (1 - v / max);
    series.forEach((s) => {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      pts.forEach((p, i) => {
        const x = xOf(i), y = yOf(p[s.key] || 0);
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.stroke();
    });
    // legend with the latest values
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    let lx = left;
    const last = pts.length ? pts[pts.length - 1] : {};
    series.forEach((s) => {
      const label = `${s.name} ${fmt(last[s.key] || 0)}`;
      ctx.fillStyle = s.color;
      ctx.fillRect(lx, 6, 10, 10);
      ctx.fillStyle = '#222';
      ctx.fillText(label, lx + 14, 5);
      lx += ctx.measureText(label).width + 30;
    });
    canvas.dataset.points = String(pts.length);
  }

  const MEMORY_SERIES = [
    { name: 'RSS', color: '#1f77b4', key: 'rss' },
    { name: 'libvips', color: '#ff7f0e', key: 'vips_mem' },
    { name: 'pooled buffers', color: '#2ca02c', key: 'pool_bytes' },
    { name: 'budget in use', color: '#d62728', key: 'budget_used' },
  ];
  const REQUEST_SERIES = [
    { name: 'in flight', color: '#9467bd', key: 'in_flight' },
    { name: 'queued', color: '#8c564b', key: 'queued' },
    { name: 'budget waiters', color: '#e377c2', key: 'budget_waiting' },
  ];

  function statsTable(st) {
    const rows = [
      ['Allocator', `${st.allocator}${st.allocator_library ? ' (' + st.allocator_library + ')' : ''}`],
      ['MALLOC_ARENA_MAX', st.malloc_arena_max || 'unset'],
      ['MALLOC_CONF', st.malloc_conf || 'unset'],
      ['RSS', fmtBytes(st.rss)],
      ['libvips tracked (high-water)', `${fmtBytes(st.vips_mem)} (${fmtBytes(st.vips_mem_highwater)})`],
      ['Pool: idle buffers, bytes, in use', `${st.pool_buffers}, ${fmtBytes(st.pool_bytes)}, ${st.pool_in_use}`],
      ['Pool: default size, max size', `${fmtBytes(st.pool_default_size)}, ${st.pool_max_size ? fmtBytes(st.pool_max_size) : 'not calibrated'}`],
      ['Pool calibrations', st.pool_calibrations],
      ['Releases, bytes released', `${st.releases}, ${fmtBytes(st.released_bytes)}`],
      ['Release interval', `${st.free_memory_interval} s`],
      ['Requests in flight, queued', `${st.in_flight}, ${st.queued}`],
      ['Memory budget', st.budget_on ? `${fmtBytes(st.budget_used)} of ${fmtBytes(st.budget)}, ${st.budget_waiting} waiting` : 'off'],
    ];
    const t = $('stats');
    t.textContent = '';
    rows.forEach(([k, v]) => {
      const tr = t.insertRow();
      const th = document.createElement('th');
      th.textContent = k;
      tr.appendChild(th);
      tr.insertCell().textContent = String(v);
    });
  }

  async function poll() {
    try {
      const r = await fetch(`${base}playground/stats.json`, { cache: 'no-store' });
      if (!r.ok) return;
      const st = await r.json();
      state.stats = st;
      state.points.push(st);
      if (state.points.length > MAX_POINTS) state.points.shift();
      statsTable(st);
      drawChart($('chart-memory'), MEMORY_SERIES, fmtBytes);
      drawChart($('chart-requests'), REQUEST_SERIES, (v) => String(Math.round(v)), true);
    } catch (e) {
      // the server may be restarting: the next poll tries again
    }
  }

  async function start() {
    if (/memory$/.test(location.pathname)) {
      document.body.classList.add('memory-only');
      $('memory-link').href = base;
      $('memory-link').textContent = 'playground';
    }
    $('form').addEventListener('submit', processForm);
    $('load').addEventListener('click', runLoad);
    await poll();
    setInterval(poll, POLL_MS);
  }

  // For tests and the console: the figures charted so far, and one fresh poll.
  window.imgfcgiPlayground = { points: state.points, poll, process: processForm, runLoad };
  start();
}());
