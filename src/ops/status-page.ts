/**
 * The status page at /: one self-contained HTML document (no build step, no external
 * assets) that reads /status every few seconds and draws the lag chart itself as SVG.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>exchange-crm-sync — status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 12px 20px; color: #222; }
  h1 { font-size: 20px; margin: 4px 0; } h2 { font-size: 15px; margin: 18px 0 6px; }
  .muted { color: #666; } .bad { color: #b00020; font-weight: 600; } .good { color: #1b7f3a; font-weight: 600; }
  .cards { display: flex; flex-wrap: wrap; gap: 10px; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 110px; }
  .card b { display: block; font-size: 20px; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
  .state-failed { color: #b00020; } .state-backing-off { color: #b36b00; } .state-paused { color: #555; }
  #lag-chart { width: 100%; height: 220px; border: 1px solid #eee; }
  input[type=search] { width: 320px; padding: 4px; }
</style>
</head>
<body>
<h1>exchange-crm-sync</h1>
<div id="service" class="muted">loading…</div>
<div>Readiness: <span id="ready">…</span></div>

<h2>Mailboxes</h2>
<div id="mailbox-counts" class="cards"></div>
<h2>Needing attention <span class="muted">(failed first)</span></h2>
<table id="attention"><thead><tr><th>Mailbox</th><th>State</th><th>Reason</th><th>Since</th></tr></thead><tbody></tbody></table>

<h2>Consumer lag, last hour</h2>
<svg id="lag-chart" viewBox="0 0 1000 220" preserveAspectRatio="none" role="img" aria-label="consumer lag per topic over the last hour"></svg>
<div id="lag-now" class="cards"></div>

<h2>End-to-end latency <span class="muted" id="latency-window"></span></h2>
<div id="latency" class="cards"></div>

<h2>EWS errors by code</h2>
<table id="ews-errors"><tbody></tbody></table>

<div id="accounts-block" hidden>
<h2>Service accounts <span class="muted">(delegate access: planned over every instance / this instance's subscriptions and connections)</span></h2>
<table id="accounts"><tbody></tbody></table>
</div>

<h2>Dead-letter topics</h2>
<div id="dlq" class="cards"></div>

<h2>Background verify <span class="muted" id="verify-every"></span></h2>
<div id="verify" class="cards"></div>
<table id="divergences"><tbody></tbody></table>

<h2>Find a mailbox</h2>
<form id="search"><input id="mailbox-query" type="search" placeholder="user@example.com" autocomplete="off"> <button type="submit">Look up</button></form>
<div id="mailbox-result"></div>

<p class="muted">Updated <span id="updated">never</span> · <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a></p>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const card = (label, value, cls) => '<div class="card"><span class="muted">' + esc(label) + '</span><b class="' + (cls || '') + '">' + esc(value) + '</b></div>';
  const ms = (v) => (v === null || v === undefined ? '–' : v < 1000 ? v + ' ms' : (v / 1000).toFixed(1) + ' s');
  const colours = ['#4a7fc1', '#f0a35e', '#1b7f3a', '#b00020', '#7a4fc1', '#555'];

  function drawLag(history) {
    const svg = $('lag-chart');
    const series = {};
    for (const s of history) for (const k of Object.keys(s.lag)) (series[k] = series[k] || []).push([s.at, s.lag[k]]);
    const now = Date.now(), from = now - 3600000;
    const max = Math.max(1, ...history.flatMap((s) => Object.values(s.lag)));
    const x = (t) => ((t - from) / 3600000) * 1000, y = (v) => 200 - (v / max) * 180;
    let out = '<text x="4" y="14" font-size="12" fill="#666">max ' + max + '</text><line x1="0" y1="200" x2="1000" y2="200" stroke="#ccc"/>';
    Object.keys(series).forEach((k, i) => {
      const pts = series[k].filter(([t]) => t >= from).map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
      out += '<polyline data-series="' + esc(k) + '" fill="none" stroke-width="2" stroke="' + colours[i % colours.length] + '" points="' + pts + '"/>';
      out += '<text x="' + (10 + i * 330) + '" y="216" font-size="12" fill="' + colours[i % colours.length] + '">' + esc(k) + '</text>';
    });
    svg.innerHTML = out;
  }

  async function refresh() {
    try {
      const r = await fetch('/status', { cache: 'no-store' });
      const s = await r.json();
      $('service').textContent = 'instance ' + s.service.instance + ' · ' + s.service.advise + ' · log: ' + s.service.transport + ' · up ' + s.service.uptimeSeconds + ' s · v' + s.service.version;
      $('ready').innerHTML = s.ready.ok ? '<span class="good">ready</span>' : '<span class="bad">not ready</span> — ' + esc(s.ready.reasons.map((r) => r.reason).join('; '));
      const b = s.mailboxes.byState;
      $('mailbox-counts').innerHTML = card('total', s.mailboxes.total) + ['active', 'syncing', 'subscribing', 'backing-off', 'paused', 'failed']
        .map((k) => card(k, b[k], k === 'failed' && b[k] > 0 ? 'bad' : '')).join('') + card('initial sync done', s.mailboxes.initialSyncDone)
        + (s.mailboxes.bySide ? card('on premises (EWS)', s.mailboxes.bySide.ews) + card('Exchange Online (Graph)', s.mailboxes.bySide.graph) : '');
      $('attention').tBodies[0].innerHTML = s.mailboxes.attention.length
        ? s.mailboxes.attention.map((m) => '<tr class="state-' + esc(m.state) + '"><td>' + esc(m.mailbox) + (m.side ? ' <span class="muted">(' + (m.side === 'graph' ? 'Graph' : 'EWS') + ')</span>' : '') + '</td><td>' + esc(m.state) + '</td><td>' + esc(m.reason) + '</td><td>' + esc(m.since) + '</td></tr>').join('')
        : '<tr><td colspan="4" class="muted">none</td></tr>';
      drawLag(s.lag.history);
      $('lag-now').innerHTML = Object.entries(s.lag.current).map(([k, v]) => card(k, v, v > 0 ? '' : 'good')).join('');
      $('latency-window').textContent = '(last ' + s.latency.windowMinutes + ' min)';
      $('latency').innerHTML = card('to CRM p50', ms(s.latency.toCrm.p50Ms)) + card('to CRM p99', ms(s.latency.toCrm.p99Ms)) + card('to CRM changes', s.latency.toCrm.count)
        + card('to Exchange p50', ms(s.latency.toExchange.p50Ms)) + card('to Exchange p99', ms(s.latency.toExchange.p99Ms)) + card('to Exchange changes', s.latency.toExchange.count);
      const errors = Object.entries(s.ewsErrors).sort((a, b) => b[1] - a[1]);
      $('ews-errors').tBodies[0].innerHTML = errors.length ? errors.map(([c, n]) => '<tr><td>' + esc(c) + '</td><td>' + n + '</td></tr>').join('') : '<tr><td class="muted">none</td></tr>';
      $('accounts-block').hidden = !s.accounts;
      $('accounts').tBodies[0].innerHTML = (s.accounts || []).map((a) => '<tr><td>' + esc(a.account) + '</td><td>' + a.plannedMailboxes + ' of ' + a.maxSubscriptions + ' mailboxes planned</td><td>' + a.subscriptions + ' subscriptions here</td><td>' + a.connections + ' of ' + a.maxConnections + ' connections here</td></tr>').join('');
      $('dlq').innerHTML = Object.entries(s.dlq).map(([t, n]) => card(t, n, n > 0 ? 'bad' : 'good')).join('');
      const v = s.verify;
      $('verify-every').textContent = v ? '(' + v.perRound + ' mailboxes every ' + v.intervalSeconds + ' s; ' + v.checked + ' compared)' : '(off)';
      $('verify').innerHTML = v ? Object.entries(v.counts).map(([k, n]) => card(k, n, n > 0 ? 'bad' : 'good')).join('') : '';
      $('divergences').tBodies[0].innerHTML = v && v.divergences.length
        ? v.divergences.map((d) => '<tr class="state-failed"><td>' + esc(d.mailbox) + '</td><td>' + esc(d.kind) + '</td><td>' + esc(d.itemId || d.crmId) + '</td><td>' + esc(d.detail) + '</td><td>' + esc(d.since) + '</td></tr>').join('')
        : '';
      $('updated').textContent = new Date().toLocaleTimeString();
    } catch (err) {
      $('ready').innerHTML = '<span class="bad">the service does not answer</span>';
    }
  }

  $('search').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = $('mailbox-query').value.trim();
    if (!q) return;
    const r = await fetch('/status/mailbox?address=' + encodeURIComponent(q), { cache: 'no-store' });
    const m = await r.json();
    $('mailbox-result').innerHTML = r.ok
      ? '<table><tr><th>Mailbox</th><td>' + esc(m.mailbox) + '</td></tr><tr><th>State</th><td class="state-' + esc(m.state) + '">' + esc(m.state) + (m.reason ? ' — ' + esc(m.reason) : '') + '</td></tr>'
        + '<tr><th>Last event</th><td>' + esc(m.lastEventAt || 'none yet') + '</td></tr><tr><th>Last sync</th><td>' + esc(m.lastSyncAt || 'none yet') + '</td></tr>'
        + (m.direction ? '<tr><th>Direction</th><td>' + esc(m.direction) + '</td></tr>' : '')
        + (m.skipped ? '<tr><th>Kept by the sync policy</th><td>' + Object.keys(m.skipped).map((rule) => esc(rule) + ': ' + m.skipped[rule]).join(', ') + '</td></tr>' : '')
        + '<tr><th>Lag (changes not yet applied)</th><td>' + m.pending + '</td></tr><tr><th>Last applied</th><td>' + esc(m.lastAppliedAt || 'none yet') + '</td></tr></table>'
      : '<span class="bad">' + esc(m.error) + '</span>';
  });

  refresh();
  setInterval(refresh, 3000);
})();
</script>
</body>
</html>
`;
