/**
 * The web monitor: one HTML page and one script, both served by the master itself.
 * Nothing is fetched from anywhere else (no CDN, no fonts): the charts are inline SVG
 * drawn by the script below from /api/v1/history, the tables from /api/v1/overview, the HA
 * group's from /api/status.
 * The script is plain ES2017 in a string (the master's tsconfig has no DOM types) and
 * avoids backticks so that it can sit in this template literal untouched.
 */

export const MONITOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsmfs monitor</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#d9dee7; --bg:#f6f7f9; --ok:#1f9d55; --warn:#d97706; --bad:#c62828; --accent:#2563eb; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:baseline; gap:16px; padding:12px 20px; background:#1d2330; color:#fff; }
  header h1 { margin:0; font-size:18px; }
  header .sub { color:#b8c0cc; font-size:12px; }
  main { padding:16px 20px; display:grid; gap:16px; }
  section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:12px 16px; }
  section h2 { margin:0 0 8px; font-size:15px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; }
  .card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
  .card .k { color:var(--muted); font-size:12px; }
  .card .v { font-size:20px; font-weight:600; }
  .bar { height:8px; background:#e5e7eb; border-radius:4px; overflow:hidden; margin-top:6px; }
  .bar > div { height:100%; background:var(--accent); }
  .charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(320px, 1fr)); gap:12px; }
  .chart svg { width:100%; height:170px; display:block; }
  .legend { font-size:12px; color:var(--muted); }
  .legend span { display:inline-block; width:10px; height:10px; margin:0 4px 0 10px; border-radius:2px; }
  table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
  th, td { text-align:right; padding:4px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  th:first-child, td:first-child, td.l, th.l { text-align:left; }
  .ok { color:var(--ok); } .warn { color:var(--warn); } .bad { color:var(--bad); font-weight:600; }
  td.cell0 { color:#c0c6d0; }
  .err { color:var(--bad); }
</style>
</head>
<body>
<header><h1>tsmfs</h1><span class="sub" id="sub">loading…</span><span class="sub err" id="err"></span></header>
<main>
  <div class="cards" id="cards"></div>
  <section><h2>Last hours</h2>
    <div class="charts">
      <div class="chart"><div class="legend" id="legend-ops"></div><svg id="chart-ops" data-chart="ops" role="img" aria-label="operations per second"></svg></div>
      <div class="chart"><div class="legend" id="legend-io"></div><svg id="chart-io" data-chart="throughput" role="img" aria-label="throughput"></svg></div>
      <div class="chart"><div class="legend" id="legend-space"></div><svg id="chart-space" data-chart="space" role="img" aria-label="space"></svg></div>
    </div>
  </section>
  <section id="group-section" hidden><h2>HA group</h2><table id="group"></table><table id="standbys"></table></section>
  <section><h2>Chunkservers</h2><table id="chunkservers"></table></section>
  <section><h2>Disks</h2><table id="disks"></table></section>
  <section><h2>Chunk health: chunks by goal (rows) and valid copies (columns)</h2><table id="health"></table><p id="health-classes"></p></section>
  <section><h2>Sessions</h2><table id="sessions"></table></section>
  <section><h2>Exports</h2><table id="exports"></table></section>
  <section><h2>Quotas</h2><table id="quotas"></table></section>
  <section><h2>Storage classes: chunks by state against their labels</h2><table id="sclasses"></table></section>
</main>
<script src="/monitor.js"></script>
</body>
</html>
`;

export const MONITOR_JS = String.raw`'use strict';
(function () {
  var REFRESH_MS = 5000;
  var SVGNS = 'http://www.w3.org/2000/svg';

  function bytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i];
  }
  function num(n) { return Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 }); }
  function dur(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm';
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function table(id, head, rows) {
    var t = document.getElementById(id);
    t.textContent = '';
    var tr = el('tr');
    head.forEach(function (h) { tr.appendChild(el('th', {}, h)); });
    t.appendChild(el('thead')).appendChild(tr);
    var body = t.appendChild(el('tbody'));
    if (rows.length === 0) {
      var r = el('tr'); var c = el('td', { colspan: head.length, class: 'l' }, 'none'); r.appendChild(c); body.appendChild(r);
    }
    // Header cells take the alignment of the column's text cells.
    if (rows.length > 0) {
      rows[0].forEach(function (cell, i) {
        if (cell && typeof cell === 'object' && /\bl\b/.test(cell.cls || '')) tr.children[i].className = 'l';
      });
    }
    rows.forEach(function (row) {
      var r = el('tr');
      row.forEach(function (cell) {
        var c = cell && typeof cell === 'object' ? el('td', { class: cell.cls || '' }, cell.text) : el('td', {}, cell);
        r.appendChild(c);
      });
      body.appendChild(r);
    });
  }
  function card(k, v, extra) {
    var c = el('div', { class: 'card' });
    c.appendChild(el('div', { class: 'k' }, k));
    var ve = c.appendChild(el('div', { class: 'v' }, v));
    if (extra && extra.cls) ve.className = 'v ' + extra.cls;
    if (extra && extra.ratio !== undefined) {
      var b = c.appendChild(el('div', { class: 'bar' }));
      b.appendChild(el('div', { style: 'width:' + Math.min(100, extra.ratio * 100).toFixed(1) + '%' }));
    }
    return c;
  }

  function renderOverview(o) {
    var i = o.info;
    document.getElementById('sub').textContent = 'master ' + i.version + ' · metadata version ' + num(i.metadataVersion) +
      ' · up ' + dur(i.uptimeSeconds) + ' · updated ' + new Date().toLocaleTimeString();
    var cards = document.getElementById('cards');
    cards.textContent = '';
    cards.appendChild(card('space used', bytes(i.usedSpace) + ' / ' + bytes(i.totalSpace), { ratio: i.totalSpace ? i.usedSpace / i.totalSpace : 0 }));
    cards.appendChild(card('chunkservers online', i.chunkservers.online + ' / ' + i.chunkservers.total, { cls: i.chunkservers.online < i.chunkservers.total ? 'warn' : 'ok' }));
    cards.appendChild(card('chunks (copies)', num(i.chunks) + ' (' + num(i.copies) + ')'));
    cards.appendChild(card('lost chunks', num(i.health.lost), { cls: i.health.lost ? 'bad' : 'ok' }));
    cards.appendChild(card('under goal', num(i.health.underGoal), { cls: i.health.underGoal ? 'warn' : 'ok' }));
    cards.appendChild(card('over goal', num(i.health.overGoal)));
    var r = i.replications.inFlight;
    cards.appendChild(card('replicating (endangered / under goal / labels / rebalance)', r.endangered + ' / ' + r.underGoal + ' / ' + r.wrongLabels + ' / ' + r.rebalance));
    cards.appendChild(card('inodes (dirs / files)', num(i.inodes) + ' (' + num(i.dirs) + ' / ' + num(i.files) + ')'));
    cards.appendChild(card('trash', num(i.trashFiles) + ' files, ' + bytes(i.trashSpace)));
    cards.appendChild(card('master memory (rss)', bytes(i.memory.rss)));

    table('chunkservers', ['id', 'address', 'status', 'chunks', 'used', 'total', '% used', 'damaged disks', 'last heartbeat', 'rep in/out', 'labels', 'rack'],
      o.chunkservers.map(function (c) {
        return [c.csid, { text: c.host + ':' + c.port, cls: 'l' }, { text: c.online ? 'online' : 'offline', cls: c.online ? 'ok' : 'bad' },
          num(c.chunks), bytes(c.usedSpace), bytes(c.totalSpace), c.totalSpace ? (100 * c.usedSpace / c.totalSpace).toFixed(1) + '%' : '-',
          { text: c.damagedDisks, cls: c.damagedDisks ? 'bad' : '' }, c.lastHeartbeatAgoSeconds + ' s ago', c.replicationsIn + '/' + c.replicationsOut,
          { text: c.labels.join(',') || '-', cls: 'l' }, { text: c.rack || '-', cls: 'l' }];
      }));
    table('disks', ['chunkserver', 'path', 'status', 'chunks', 'used', 'total', '% used'],
      o.disks.map(function (d) {
        return [d.host + ':' + d.port, { text: d.path, cls: 'l' }, { text: d.status + (d.damaged ? ' (' + d.damaged + ')' : d.left !== null ? ' (' + (d.left === 0 ? 'ready' : d.left + ' left') + ')' : ''), cls: d.status === 'ok' ? 'ok' : d.status === 'damaged' ? 'bad' : 'warn' },
          num(d.chunks), bytes(d.usedSpace), bytes(d.totalSpace), d.totalSpace ? (100 * d.usedSpace / d.totalSpace).toFixed(1) + '%' : '-'];
      }));
    var h = o.health;
    var head = ['goal \\ copies'];
    for (var c = 0; c <= h.maxColumn; c++) head.push(c === h.maxColumn ? c + '+' : String(c));
    var rows = [];
    h.matrix.forEach(function (row, goal) {
      if (row.every(function (n) { return n === 0; })) return;
      rows.push([goal === 0 ? '0 (unreferenced)' : String(goal)].concat(row.map(function (n, copies) {
        var cls = n === 0 ? 'cell0' : goal === 0 ? '' : copies === 0 ? 'bad' : copies < goal ? 'warn' : copies > goal ? '' : 'ok';
        return { text: num(n), cls: cls };
      })));
    });
    table('health', head, rows);
    var hc = h.classes.all;
    document.getElementById('health-classes').textContent = 'missing: ' + num(hc.missing) + ' / endangered: ' + num(hc.endangered) + ' / undergoal: ' + num(hc.undergoal) +
      ' / stable: ' + num(hc.stable) + ' / overgoal: ' + num(hc.overgoal) + ' / pending deletion: ' + num(hc.pendingDeletion) + ' / to be removed: ' + num(hc.toBeRemoved);
    table('sessions', ['id', 'address', 'host', 'mountpoint', 'root', 'mode', 'open files', 'state', 'export rule'],
      o.sessions.map(function (s) {
        var mode = (s.meta ? 'meta ' : '') + (s.readonly ? 'ro' : 'rw') + (s.attachedTo !== null ? ' (tool of ' + s.attachedTo + ')' : '');
        return [s.id, { text: s.address, cls: 'l' }, { text: s.hostname, cls: 'l' }, { text: s.mountpoint, cls: 'l' }, { text: s.root, cls: 'l' },
          mode, s.openFiles, { text: s.connected ? 'connected' : 'waiting', cls: s.connected ? 'ok' : 'warn' }, { text: s.exportRule, cls: 'l' }];
      }));
    table('exports', ['address', 'path', 'options', 'defined at'],
      o.exports.map(function (e) { return [{ text: e.address, cls: 'l' }, { text: e.path, cls: 'l' }, { text: e.options, cls: 'l' }, { text: e.where, cls: 'l' }]; }));
    // Each kind as current / soft / hard, '-' where no limit is set (MooseFS's Quotas tab).
    var kinds = ['inodes', 'length', 'size', 'realsize'];
    table('quotas', ['path', 'exceeded', 'grace left'].concat(kinds),
      (o.quotas || []).map(function (q) {
        return [{ text: q.path, cls: 'l' }, { text: q.exceeded, cls: q.exceeded === 'no' ? 'ok' : q.exceeded === 'soft' ? 'warn' : 'bad' },
          q.graceLeft === null ? '-' : num(q.graceLeft) + ' s'].concat(kinds.map(function (k) {
          var f = k === 'inodes' ? num : bytes;
          var lim = function (v) { return v === undefined ? '-' : f(v); };
          return f(q.usage[k]) + ' / ' + lim(q.soft[k]) + ' / ' + lim(q.hard[k]);
        }));
      }));
    // Classes in use or defined by hand (the predefined 1-9 only when something is in them), as MooseFS's tab.
    var yn = function (b) { return { text: b ? 'yes' : 'NO', cls: b ? 'ok' : 'bad' }; };
    var cnt = function (n, cls) { return { text: num(n), cls: n === 0 ? 'cell0' : cls }; };
    table('sclasses', ['id', 'name', 'admin only', 'mode', 'files', 'dirs', 'chunks', 'lost', 'under goal', 'misplaced', 'over goal', 'ok', 'archived', 'create labels', 'keep labels', 'archive labels', 'archive delay'],
      (o.sclasses || []).filter(function (c) { return c.id > 9 || c.files + c.dirs > 0; }).map(function (c) {
        return [c.id, { text: c.name, cls: 'l' }, c.adminOnly ? 'yes' : 'no', c.mode, num(c.files), num(c.dirs), num(c.chunks.total),
          cnt(c.chunks.lost, 'bad'), cnt(c.chunks.underGoal, 'warn'), cnt(c.chunks.misplaced, 'warn'), cnt(c.chunks.overGoal, ''), cnt(c.chunks.ok, 'ok'), num(c.chunks.archived),
          { text: (c.create || c.keep) + (c.canCreate ? '' : ' (cannot be met)'), cls: 'l' + (c.canCreate ? '' : ' warn') },
          { text: c.keep + (c.canKeep ? '' : ' (cannot be met)'), cls: 'l' + (c.canKeep ? '' : ' warn') },
          { text: (c.archive || c.keep) + (c.canArchive ? '' : ' (cannot be met)'), cls: 'l' + (c.canArchive ? '' : ' warn') },
          c.archive ? c.archiveDelay + ' d' : '-'];
      }));
  }

  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = [1, 2, 2.5, 5, 10].find(function (f) { return f * p >= v; });
    return m * p;
  }
  /** A line chart of several series sharing the time axis, drawn as SVG polylines. */
  function lineChart(id, legendId, samples, series, fmt) {
    var box = document.getElementById(id);
    box.textContent = '';
    // The drawing uses the element's own pixel size, so text and lines are never stretched.
    var W = box.clientWidth || 600, H = box.clientHeight || 170, L = 64, R = 8, T = 8, B = 20;
    box.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var legend = document.getElementById(legendId);
    legend.textContent = '';
    series.forEach(function (s) {
      var sw = el('span'); sw.style.background = s.color; legend.appendChild(sw);
      var last = samples.length ? s.value(samples[samples.length - 1]) : 0;
      legend.appendChild(document.createTextNode(s.name + ': ' + fmt(last)));
    });
    var max = 0;
    samples.forEach(function (p) { series.forEach(function (s) { max = Math.max(max, s.value(p)); }); });
    max = niceMax(max);
    var t0 = samples.length ? samples[0].t : Date.now(), t1 = samples.length ? samples[samples.length - 1].t : t0 + 1;
    if (t1 <= t0) t1 = t0 + 1;
    var x = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    for (var g = 0; g <= 4; g++) {
      var gy = T + (H - T - B) * g / 4;
      box.appendChild(svg('line', { x1: L, x2: W - R, y1: gy, y2: gy, stroke: '#e5e7eb', 'stroke-width': 1 }));
      var lab = svg('text', { x: L - 6, y: gy + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#667085' });
      lab.textContent = fmt(max * (4 - g) / 4);
      box.appendChild(lab);
    }
    var span = svg('text', { x: L, y: H - 4, 'font-size': 11, fill: '#667085' });
    span.textContent = samples.length ? new Date(t0).toLocaleTimeString() + ' – ' + new Date(t1).toLocaleTimeString() : 'no samples yet';
    box.appendChild(span);
    series.forEach(function (s) {
      if (samples.length === 0) return;
      var pts = samples.map(function (p) { return x(p.t).toFixed(1) + ',' + y(s.value(p)).toFixed(1); });
      if (samples.length === 1) pts.push((W - R) + ',' + y(s.value(samples[0])).toFixed(1));
      box.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke', class: 'series' }));
    });
  }
  function renderHistory(h) {
    var s = h.samples;
    lineChart('chart-ops', 'legend-ops', s, [{ name: 'operations/s', color: '#2563eb', value: function (p) { return p.opsPerSec; } }], num);
    lineChart('chart-io', 'legend-io', s, [
      { name: 'read/s', color: '#1f9d55', value: function (p) { return p.readBytesPerSec; } },
      { name: 'write/s', color: '#d97706', value: function (p) { return p.writeBytesPerSec; } },
    ], bytes);
    lineChart('chart-space', 'legend-space', s, [
      { name: 'used', color: '#7c3aed', value: function (p) { return p.usedSpace; } },
      { name: 'total', color: '#94a3b8', value: function (p) { return p.totalSpace; } },
    ], bytes);
  }

  /**
   * The HA group as this master sees it (/api/status, docs/ha.md); hidden for a master that
   * runs alone. A follower names its leader: the standbys are the leader's to show.
   */
  function renderGroup(g) {
    var section = document.getElementById('group-section');
    section.hidden = g.role === 'alone';
    if (g.role === 'alone') return;
    var rows = [
      ['HA group', { text: g.cluster, cls: 'l' }],
      ['this master', { text: g.self.client + ' (' + g.role + ')', cls: 'l ' + (g.role === 'leader' ? 'ok' : '') }],
      ['leader', { text: g.leader ? g.leader.client + ' (monitor: http://' + g.leader.http + '/)' : 'none: election under way', cls: 'l ' + (g.leader ? '' : 'bad') }],
      ['epoch', num(g.epoch)],
      ['failovers seen', num(g.failovers)],
    ];
    if (g.follower) rows.push(['applied / leader version (lag)', num(g.follower.appliedVersion) + ' / ' + num(g.follower.leaderVersion) + ' (' + num(g.follower.lag) + ')']);
    if (g.role === 'leader') rows.push(['synchronous standbys', { text: g.sync ? g.sync.standbys + ' wanted; set in etcd: ' + (g.sync.set.length ? g.sync.set.join(', ') : '(empty)') : '0 (asynchronous failover)', cls: 'l' }]);
    table('group', ['item', 'value'], rows);
    var followers = g.sync ? g.sync.followers : [];
    table('standbys', ['standby', 'acked version', 'behind', 'state', 'link'], followers.map(function (f) {
      return [{ text: f.member, cls: 'l' }, num(f.acked), num(Math.max(0, g.metadataVersion - f.acked)),
        { text: f.state, cls: f.state === 'in' ? 'ok' : f.state === 'joining' ? 'warn' : 'bad' }, { text: f.connected ? 'up' : 'down', cls: f.connected ? 'ok' : 'bad' }];
    }));
    document.getElementById('standbys').hidden = !g.sync;
  }

  function get(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }
  function refresh() {
    Promise.all([get('/api/v1/overview'), get('/api/v1/history'), get('/api/status')]).then(function (res) {
      document.getElementById('err').textContent = '';
      renderOverview(res[0]);
      renderHistory(res[1]);
      renderGroup(res[2]);
      document.body.setAttribute('data-loaded', 'true');
    }).catch(function (e) {
      document.getElementById('err').textContent = 'master unreachable: ' + e.message;
    });
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
`;
