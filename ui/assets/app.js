// The streaming status page: polls the JSON API every second and draws
// the timelines and histograms of the four batch series (SVG, no
// libraries), the batch tables and the receivers.
//
// Every data point is an SVG circle.point carrying data-series,
// data-batch-time (ms since the epoch) and data-value (the API's number,
// unrounded); every histogram bar a rect.bar with data-lo, data-hi and
// data-count. Tests read them from the DOM.
//
// A batch's detail: the batch time of a table row (a.batch-link) and a
// chart's point lead to #batch=<ms>, which shows section#batch-detail
// (data-batch-time, data-status) from api/v1/streaming/batches/<ms>,
// above the charts, until the hash changes: its facts, its error
// (#batch-detail-error), per input a div.detail-input (data-stream-id)
// with the Kafka offset ranges (tr.offset-range: data-topic,
// data-partition, data-from, data-until, data-count), the files
// (li.file: data-path; .omitted: data-omitted), the lag per partition
// (tr.partition-lag: data-partition, data-records) and any other
// metadata (dd: data-key), and the output operations (#batch-detail-ops,
// tr.output-op: data-op-id, data-status, data-duration-ms, data-records,
// data-rows, data-bytes, data-files, data-rejected; span.reason:
// data-reason, data-count). Values in data- attributes are the API's,
// unrounded.
(function () {
	'use strict';

	var API = 'api/v1/streaming/';
	var SVGNS = 'http://www.w3.org/2000/svg';
	var POLL_MS = 1000;
	var BINS = 10;

	// The four series, as in Spark's Streaming tab.
	var SERIES = [
		{ key: 'inputRate', title: 'Input Rate', unit: 'records/s', field: 'inputRate', avg: 'avgInputRate' },
		{ key: 'schedulingDelay', title: 'Scheduling Delay', unit: 'ms', field: 'schedulingDelayMs', avg: 'avgSchedulingDelayMs' },
		{ key: 'processingTime', title: 'Processing Time', unit: 'ms', field: 'processingTimeMs', avg: 'avgProcessingTimeMs' },
		{ key: 'totalDelay', title: 'Total Delay', unit: 'ms', field: 'totalDelayMs', avg: 'avgTotalDelayMs' }
	];

	// Chart geometry, shared by a timeline and its histogram so that
	// their value axes line up.
	var H = 178, TOP = 18, BOTTOM = 24;
	var TL = { w: 600, left: 56, right: 14 };
	var HG = { w: 230, left: 8, right: 34 };

	var updates = 0;
	var openDetails = {}; // batch time -> true for expanded output operations
	// The batch shown in #batch-detail: its time (ms; null: none), whether
	// it is final (completed or failed: no need to fetch it again), the
	// number of the last fetch, so that the answer for a batch no longer
	// shown is dropped, and whether that fetch is under way.
	var detail = { ms: null, final: false, seq: 0, busy: false };

	// ---- helpers ----

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		setAttrs(e, attrs);
		if (text !== undefined && text !== null) e.textContent = String(text);
		return e;
	}

	function svg(tag, attrs, text) {
		var e = document.createElementNS(SVGNS, tag);
		setAttrs(e, attrs);
		if (text !== undefined && text !== null) e.textContent = String(text);
		return e;
	}

	function setAttrs(e, attrs) {
		if (!attrs) return;
		Object.keys(attrs).forEach(function (k) {
			if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
		});
	}

	function pad(n, w) {
		var s = String(n);
		while (s.length < w) s = '0' + s;
		return s;
	}

	function fmtClock(ms, withMillis) {
		var d = new Date(ms);
		var s = pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2);
		if (withMillis) s += '.' + pad(d.getMilliseconds(), 3);
		return s;
	}

	function fmtDate(ms) {
		var d = new Date(ms);
		return d.getFullYear() + '/' + pad(d.getMonth() + 1, 2) + '/' + pad(d.getDate(), 2) + ' ' + fmtClock(ms, true);
	}

	function fmtNumber(v, digits) {
		if (v === null || v === undefined) return '—';
		return v.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 2 : digits });
	}

	// fmtDuration formats milliseconds like Spark: "0 ms", "12 ms", "1.5 s", "2.1 min".
	function fmtDuration(ms) {
		if (ms === null || ms === undefined) return '—';
		if (ms < 1) return fmtNumber(ms, 2) + ' ms';
		if (ms < 1000) return fmtNumber(ms, 0) + ' ms';
		if (ms < 60000) return fmtNumber(ms / 1000, 1) + ' s';
		if (ms < 3600000) return fmtNumber(ms / 60000, 1) + ' min';
		return fmtNumber(ms / 3600000, 1) + ' h';
	}

	// fmtBytes formats a byte count: "512 B", "1.5 KiB", "3.2 MiB".
	function fmtBytes(n) {
		if (n === null || n === undefined) return '—';
		var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		var i = 0, v = n;
		while (v >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return fmtNumber(v, i ? 1 : 0) + ' ' + units[i];
	}

	function plural(n, word) {
		return fmtNumber(n, 0) + ' ' + word + (n === 1 ? '' : 's');
	}

	function batchHash(ms) { return '#batch=' + ms; }

	function fmtValue(v, unit) {
		return unit === 'ms' ? fmtDuration(v) : fmtNumber(v, 2) + ' ' + unit;
	}

	// niceMax rounds max up to 1, 2 or 5 times a power of ten, for axis ticks.
	function niceMax(max) {
		if (!(max > 0)) return 1;
		var p = Math.pow(10, Math.floor(Math.log10(max)));
		var steps = [1, 2, 2.5, 5, 10];
		for (var i = 0; i < steps.length; i++) {
			if (steps[i] * p >= max) return steps[i] * p;
		}
		return 10 * p;
	}

	async function getJSON(path) {
		var r = await fetch(API + path, { cache: 'no-store' });
		if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
		return r.json();
	}

	// ---- summary ----

	function renderSummary(st) {
		if (st.name) {
			var h = document.getElementById('job-title');
			if (h) h.textContent = 'Streaming Statistics: ' + st.name;
			document.title = st.name + ' · Streaming · microbatch';
		}
		var p = document.getElementById('summary');
		p.textContent = '';
		document.body.setAttribute('data-state', st.state);
		var state;
		if (st.state === 'waiting') {
			state = el('strong', { 'class': 'state-stopped' }, 'Not started');
		} else if (st.state === 'active' && st.degraded && st.degraded.length) {
			state = el('strong', { 'class': 'state-degraded', id: 'state-degraded' }, 'Running, degraded');
		} else if (st.state === 'active') {
			state = el('strong', { 'class': 'state-active' }, 'Running');
		} else if (st.stopError) {
			state = el('strong', { 'class': 'state-failed' }, 'Stopped with an error');
		} else {
			state = el('strong', { 'class': 'state-stopped' }, 'Stopped');
		}
		p.appendChild(state);
		p.appendChild(document.createTextNode(' batches of '));
		p.appendChild(el('strong', null, fmtDuration(st.batchDurationMs)));
		if (st.startTime !== null) {
			p.appendChild(document.createTextNode(' since '));
			p.appendChild(el('strong', null, fmtDate(st.startTime)));
		}
		p.appendChild(document.createTextNode(' — '));
		p.appendChild(el('strong', { id: 'total-batches' }, fmtNumber(st.numTotalCompletedBatches, 0)));
		p.appendChild(document.createTextNode(' completed batches ('));
		p.appendChild(el('strong', { id: 'failed-batches' }, fmtNumber(st.numFailedBatches, 0)));
		p.appendChild(document.createTextNode(' failed, '));
		p.appendChild(el('strong', null, fmtNumber(st.numRetainedCompletedBatches, 0)));
		p.appendChild(document.createTextNode(' shown), '));
		p.appendChild(el('strong', { id: 'total-records' }, fmtNumber(st.numProcessedRecords, 0)));
		p.appendChild(document.createTextNode(' records; receivers: '));
		p.appendChild(el('strong', null, st.numActiveReceivers + ' active / ' + st.numReceivers));
		(st.partitions || []).forEach(function (ps) {
			p.appendChild(el('br'));
			p.appendChild(el('span', { 'class': 'partitions', 'data-input': ps.input },
				ps.input + ' owns ' + ps.owned.length + ' partition' + (ps.owned.length === 1 ? '' : 's') +
				(ps.owned.length ? ' (' + ps.owned.join(', ') + ')' : '') +
				'; changes: ' + ps.assigned + ' assigned, ' + ps.revoked + ' revoked, ' + ps.lost + ' lost' +
				'; last restore ' + fmtDuration(ps.lastRestoreMs) + ', at ' + fmtDate(ps.lastChange)));
		});
		(st.degraded || []).forEach(function (d) {
			p.appendChild(el('br'));
			p.appendChild(el('span', { 'class': 'state-degraded degraded' },
				d.component + ': ' + d.error + ' (since ' + fmtDate(d.since) + ')'));
		});
		if (st.stopError) {
			p.appendChild(el('br'));
			p.appendChild(el('span', { 'class': 'state-failed', id: 'stop-error' }, st.stopError));
		}
	}

	// ---- charts ----

	function timeline(s, points, yMax, avg, intervalMs) {
		var w = TL.w, x0 = TL.left, x1 = TL.w - TL.right, y0 = H - BOTTOM, y1 = TOP;
		var root = svg('svg', {
			'class': 'chart timeline', id: 'timeline-' + s.key, width: w, height: H,
			viewBox: '0 0 ' + w + ' ' + H, 'data-series': s.key, 'data-points': points.length,
			role: 'img', 'aria-label': s.title + ' per batch'
		});
		var tMin, tMax;
		if (points.length) {
			tMin = points[0].t;
			tMax = points[points.length - 1].t;
		} else {
			tMax = Date.now();
			tMin = tMax - 10 * intervalMs;
		}
		if (tMax === tMin) {
			tMin -= intervalMs;
			tMax += intervalMs;
		}
		function X(t) { return x0 + (t - tMin) / (tMax - tMin) * (x1 - x0); }
		function Y(v) { return y0 - v / yMax * (y0 - y1); }

		var grid = svg('g', { 'class': 'grid' });
		var axis = svg('g', { 'class': 'axis' });
		for (var i = 0; i <= 4; i++) {
			var v = yMax * i / 4, y = Y(v);
			grid.appendChild(svg('line', { x1: x0, x2: x1, y1: y, y2: y }));
			axis.appendChild(svg('text', { x: x0 - 6, y: y + 3, 'text-anchor': 'end' }, fmtNumber(v, 2)));
		}
		axis.appendChild(svg('path', { d: 'M' + x0 + ',' + y1 + 'V' + y0 + 'H' + x1 }));
		var ticks = Math.min(5, Math.max(points.length, 2));
		for (var k = 0; k < ticks; k++) {
			var t = tMin + (tMax - tMin) * k / (ticks - 1), x = X(t);
			axis.appendChild(svg('line', { x1: x, x2: x, y1: y0, y2: y0 + 4 }));
			var anchor = k === 0 ? 'start' : (k === ticks - 1 ? 'end' : 'middle');
			axis.appendChild(svg('text', { x: x, y: y0 + 15, 'text-anchor': anchor }, fmtClock(Math.round(t), false)));
		}
		axis.appendChild(svg('text', { 'class': 'unit', x: x0 - 6, y: y1 - 9, 'text-anchor': 'end' }, s.unit));
		root.appendChild(grid);
		root.appendChild(axis);

		if (!points.length) {
			root.appendChild(svg('text', { 'class': 'no-data', x: (x0 + x1) / 2, y: (y0 + y1) / 2, 'text-anchor': 'middle' }, 'No completed batches yet'));
			return root;
		}
		var d = points.map(function (p, i) { return (i ? 'L' : 'M') + X(p.t).toFixed(1) + ',' + Y(p.v).toFixed(1); }).join('');
		root.appendChild(svg('path', { 'class': 'series', d: d }));
		if (avg !== null && avg !== undefined) {
			var ya = Y(avg);
			root.appendChild(svg('line', { 'class': 'avg-line', x1: x0, x2: x1, y1: ya, y2: ya }));
		}
		var g = svg('g', { 'class': 'points' });
		points.forEach(function (p) {
			var c = svg('circle', {
				'class': p.failed ? 'point failed' : 'point', cx: X(p.t).toFixed(1), cy: Y(p.v).toFixed(1),
				r: points.length > 200 ? 2 : 3.5,
				'data-series': s.key, 'data-batch-time': p.t, 'data-value': String(p.v),
				'data-status': p.failed ? 'failed' : 'completed'
			});
			c.appendChild(svg('title', null, fmtDate(p.t) + ': ' + fmtValue(p.v, s.unit) + ' (click for the batch\'s detail)'));
			c.addEventListener('click', function () { location.hash = batchHash(p.t); });
			g.appendChild(c);
		});
		root.appendChild(g);
		return root;
	}

	function histogram(s, points, yMax) {
		var w = HG.w, x0 = HG.left, x1 = HG.w - HG.right, y0 = H - BOTTOM, y1 = TOP;
		var root = svg('svg', {
			'class': 'chart histogram', id: 'histogram-' + s.key, width: w, height: H,
			viewBox: '0 0 ' + w + ' ' + H, 'data-series': s.key, role: 'img',
			'aria-label': 'Histogram of ' + s.title
		});
		var counts = [];
		for (var i = 0; i < BINS; i++) counts.push(0);
		points.forEach(function (p) {
			var b = Math.floor(p.v / yMax * BINS);
			counts[Math.max(0, Math.min(BINS - 1, b))]++;
		});
		var cMax = Math.max(1, Math.max.apply(null, counts));
		var axis = svg('g', { 'class': 'axis' });
		axis.appendChild(svg('path', { d: 'M' + x0 + ',' + y1 + 'V' + y0 + 'H' + x1 }));
		axis.appendChild(svg('text', { x: x1, y: y0 + 15, 'text-anchor': 'end' }, cMax + (cMax === 1 ? ' batch' : ' batches')));
		axis.appendChild(svg('text', { x: x0, y: y0 + 15, 'text-anchor': 'start' }, '0'));
		root.appendChild(axis);
		var bh = (y0 - y1) / BINS;
		var g = svg('g', { 'class': 'bars' });
		counts.forEach(function (c, i) {
			var lo = yMax * i / BINS, hi = yMax * (i + 1) / BINS;
			var y = y0 - (i + 1) * bh;
			var bw = c / cMax * (x1 - x0);
			var r = svg('rect', {
				'class': 'bar', x: x0, y: (y + 0.5).toFixed(1), width: bw.toFixed(1), height: Math.max(bh - 1, 0.5).toFixed(1),
				'data-series': s.key, 'data-lo': lo, 'data-hi': hi, 'data-count': c
			});
			r.appendChild(svg('title', null, fmtValue(lo, s.unit) + ' to ' + fmtValue(hi, s.unit) + ': ' + c + (c === 1 ? ' batch' : ' batches')));
			g.appendChild(r);
			if (c > 0) g.appendChild(svg('text', { x: x0 + bw + 3, y: y + bh / 2 + 3 }, c));
		});
		root.appendChild(g);
		return root;
	}

	function renderStats(st, batches) {
		var done = batches.filter(function (b) { return b.status === 'completed' || b.status === 'failed'; });
		done.sort(function (a, b) { return a.batchTime - b.batchTime; });
		var body = document.getElementById('stats-body');
		body.textContent = '';
		SERIES.forEach(function (s) {
			var points = [];
			done.forEach(function (b) {
				var v = b[s.field];
				if (v !== null && v !== undefined) points.push({ t: b.batchTime, v: v, failed: b.status === 'failed' });
			});
			var max = 0;
			points.forEach(function (p) { if (p.v > max) max = p.v; });
			var yMax = niceMax(max);
			var tr = el('tr', { 'data-series': s.key });
			var label = el('td', { 'class': 'label' });
			label.appendChild(el('div', { 'class': 'name' }, s.title));
			label.appendChild(el('div', { 'class': 'avg' }, 'Avg: ' + fmtValue(st[s.avg], s.unit)));
			tr.appendChild(label);
			var c1 = el('td');
			c1.appendChild(timeline(s, points, yMax, st[s.avg], st.batchDurationMs));
			tr.appendChild(c1);
			var c2 = el('td');
			c2.appendChild(histogram(s, points, yMax));
			tr.appendChild(c2);
			body.appendChild(tr);
		});
	}

	// ---- tables ----

	function td(text, cls, attrs) {
		var a = attrs || {};
		if (cls) a['class'] = cls;
		return el('td', a, text);
	}

	function emptyRow(tbody, cols, text) {
		var tr = el('tr');
		tr.appendChild(el('td', { 'class': 'empty', colspan: cols }, text));
		tbody.appendChild(tr);
	}

	function opsCell(b) {
		var cell = el('td', { 'class': 'ops' });
		var text = b.numSucceededOutputOps + '/' + b.numOutputOps;
		if (b.numFailedOutputOps) text += ' (' + b.numFailedOutputOps + ' failed)';
		if (!b.outputOperations.length) {
			cell.textContent = text;
			return cell;
		}
		var det = el('details', { 'data-batch-time': b.batchTime });
		if (openDetails[b.batchTime]) det.open = true;
		det.addEventListener('toggle', function () {
			if (det.open) openDetails[b.batchTime] = true; else delete openDetails[b.batchTime];
		});
		det.appendChild(el('summary', null, text));
		var ul = el('ul');
		b.outputOperations.forEach(function (o) {
			var line = '#' + o.id + ' ' + o.name + ' on ' + o.stream + ': ' + o.status;
			if (o.durationMs !== null) line += ' in ' + fmtDuration(o.durationMs);
			if (o.error) line += ' — ' + o.error;
			ul.appendChild(el('li', { 'class': o.status === 'failed' ? 'error' : null }, line));
		});
		det.appendChild(ul);
		cell.appendChild(det);
		return cell;
	}

	function records(b) {
		return b.numRecords === null ? '—' : fmtNumber(b.numRecords, 0);
	}

	// timeCell is a batch's time, a link to its detail.
	function timeCell(b) {
		var cell = el('td', { 'class': 'time', title: fmtDate(b.batchTime) });
		cell.appendChild(el('a', { 'class': 'batch-link', href: batchHash(b.batchTime), 'data-batch-time': b.batchTime },
			fmtClock(b.batchTime, true)));
		return cell;
	}

	function rowClass(b) {
		var c = [];
		if (b.status === 'failed') c.push('failed');
		if (b.batchTime === detail.ms) c.push('selected');
		return c.length ? c.join(' ') : null;
	}

	function renderActive(batches) {
		var active = batches.filter(function (b) { return b.status === 'queued' || b.status === 'processing'; });
		document.getElementById('active-title').textContent = 'Active Batches (' + active.length + ')';
		var tbody = document.querySelector('#active-batches tbody');
		tbody.textContent = '';
		if (!active.length) {
			emptyRow(tbody, 6, 'No active batches.');
			return;
		}
		active.forEach(function (b) {
			var tr = el('tr', { 'data-batch-time': b.batchTime, 'data-status': b.status, 'class': rowClass(b) });
			tr.appendChild(timeCell(b));
			tr.appendChild(td(records(b), 'num'));
			tr.appendChild(td(fmtDuration(b.schedulingDelayMs), 'num'));
			tr.appendChild(td(b.status === 'processing' ? 'running' : '—', 'num'));
			tr.appendChild(opsCell(b));
			tr.appendChild(td(b.status, 'status'));
			tbody.appendChild(tr);
		});
	}

	function renderCompleted(batches) {
		var done = batches.filter(function (b) { return b.status === 'completed' || b.status === 'failed'; });
		document.getElementById('completed-title').textContent = 'Completed Batches (last ' + done.length + ')';
		var tbody = document.querySelector('#completed-batches tbody');
		tbody.textContent = '';
		if (!done.length) {
			emptyRow(tbody, 7, 'No completed batches yet.');
			return;
		}
		done.forEach(function (b) {
			var tr = el('tr', { 'data-batch-time': b.batchTime, 'data-status': b.status, 'class': rowClass(b) });
			tr.appendChild(timeCell(b));
			tr.appendChild(td(records(b), 'num records', { 'data-value': b.numRecords }));
			tr.appendChild(td(fmtDuration(b.schedulingDelayMs), 'num', { 'data-value': b.schedulingDelayMs }));
			tr.appendChild(td(fmtDuration(b.processingTimeMs), 'num', { 'data-value': b.processingTimeMs }));
			tr.appendChild(td(fmtDuration(b.totalDelayMs), 'num', { 'data-value': b.totalDelayMs }));
			tr.appendChild(opsCell(b));
			tr.appendChild(td(b.error || '', b.error ? 'error' : null));
			tbody.appendChild(tr);
		});
	}

	function renderReceivers(receivers) {
		var tbody = document.querySelector('#receivers tbody');
		tbody.textContent = '';
		if (!receivers.length) {
			emptyRow(tbody, 7, 'No receivers (inputs such as the Kafka direct stream and files are pulled, not received).');
			return;
		}
		receivers.forEach(function (r) {
			var tr = el('tr', { 'data-stream-id': r.streamId, 'data-status': r.status });
			tr.appendChild(td(r.streamId, 'num'));
			tr.appendChild(td(r.name, 'name'));
			tr.appendChild(td(r.status, 'status status-' + r.status));
			tr.appendChild(td(fmtNumber(r.avgEventRate, 2), 'num'));
			tr.appendChild(td(fmtNumber(r.numErrors, 0), 'num'));
			tr.appendChild(td(r.lastErrorTime === null ? '—' : fmtDate(r.lastErrorTime), 'time'));
			var msg = r.lastErrorMessage || '';
			if (r.lastError) msg += (msg ? ': ' : '') + r.lastError;
			tr.appendChild(td(msg, msg ? 'error' : null));
			tbody.appendChild(tr);
		});
	}

	// ---- a batch's detail ----

	// selectedBatch returns the batch time of the hash #batch=<ms>, or null.
	function selectedBatch() {
		var m = /^#batch=(\d+)$/.exec(location.hash);
		return m ? Number(m[1]) : null;
	}

	function markSelected() {
		document.querySelectorAll('#active-batches tr[data-batch-time], #completed-batches tr[data-batch-time]').forEach(function (tr) {
			tr.classList.toggle('selected', Number(tr.getAttribute('data-batch-time')) === detail.ms);
		});
	}

	function detailMessage(text) {
		var m = document.getElementById('batch-detail-message');
		m.textContent = text || '';
		m.hidden = !text;
	}

	// loadDetail shows the batch of the hash, fetching it again until it
	// is final; the page's poll calls it every second, so a batch that
	// runs is followed until it completes, and one not there yet shows
	// once it is.
	async function loadDetail() {
		var ms = selectedBatch();
		var sec = document.getElementById('batch-detail');
		if (ms !== detail.ms) {
			detail.ms = ms;
			detail.final = false;
			detail.seq++; // drops the answer of a fetch under way
			detail.busy = false;
			document.getElementById('batch-detail-body').textContent = '';
			detailMessage('');
			sec.removeAttribute('data-status');
			markSelected();
			if (ms === null) {
				sec.hidden = true;
				sec.removeAttribute('data-batch-time');
				return;
			}
			sec.hidden = false;
			sec.setAttribute('data-batch-time', ms);
			document.getElementById('batch-detail-title').textContent = 'Batch ' + fmtDate(ms);
			detailMessage('Loading…');
		}
		if (ms === null || detail.final || detail.busy) return;
		var seq = ++detail.seq;
		detail.busy = true;
		try {
			var r = await fetch(API + 'batches/' + ms, { cache: 'no-store' });
			if (seq !== detail.seq) return; // another batch since
			if (r.status === 404) {
				// Not generated yet (it shows once it is), dropped when the
				// job stopped before running it, or no longer retained.
				sec.setAttribute('data-status', 'missing');
				document.getElementById('batch-detail-body').textContent = '';
				detailMessage('No batch at ' + fmtDate(ms) + ' (' + ms + '): not generated yet, not run, or no longer retained.');
				return;
			}
			if (!r.ok) throw new Error('HTTP ' + r.status);
			var b = await r.json();
			if (seq !== detail.seq) return;
			renderDetail(b);
			detailMessage('');
			detail.final = b.status === 'completed' || b.status === 'failed';
		} catch (e) {
			if (seq === detail.seq) detailMessage('Cannot load the batch: ' + e.message);
		} finally {
			if (seq === detail.seq) detail.busy = false;
		}
	}

	function fact(tbody, label, value, attrs) {
		var tr = el('tr');
		tr.appendChild(el('th', null, label));
		tr.appendChild(el('td', attrs, value));
		tbody.appendChild(tr);
	}

	function renderDetail(b) {
		var sec = document.getElementById('batch-detail');
		sec.setAttribute('data-status', b.status);
		document.getElementById('batch-detail-title').textContent = 'Batch ' + fmtDate(b.batchTime);
		var body = document.getElementById('batch-detail-body');
		body.textContent = '';

		var facts = el('table', { 'class': 'facts', id: 'batch-detail-facts' });
		var fb = el('tbody');
		fact(fb, 'Batch time', fmtDate(b.batchTime) + ' (' + b.batchTime + ')', { 'data-value': b.batchTime });
		fact(fb, 'Status', b.status, { id: 'batch-detail-status', 'class': 'status-' + b.status, 'data-value': b.status });
		fact(fb, 'Records', records(b) + (b.inputRate === null ? '' : ' (' + fmtNumber(b.inputRate, 2) + ' records/s)'),
			{ id: 'batch-detail-records', 'data-value': b.numRecords });
		fact(fb, 'Submitted', fmtDate(b.submissionTime), { 'data-value': b.submissionTime });
		fact(fb, 'Processing', b.processingStartTime === null ? 'not started' :
			fmtDate(b.processingStartTime) + ' to ' + (b.processingEndTime === null ? '…' : fmtDate(b.processingEndTime)));
		fact(fb, 'Scheduling delay', fmtDuration(b.schedulingDelayMs), { id: 'batch-detail-scheduling-delay', 'data-value': b.schedulingDelayMs });
		fact(fb, 'Processing time', fmtDuration(b.processingTimeMs), { id: 'batch-detail-processing-time', 'data-value': b.processingTimeMs });
		fact(fb, 'Total delay', fmtDuration(b.totalDelayMs), { id: 'batch-detail-total-delay', 'data-value': b.totalDelayMs });
		var ops = b.numSucceededOutputOps + '/' + b.numOutputOps + ' succeeded';
		if (b.numFailedOutputOps) ops += ', ' + b.numFailedOutputOps + ' failed';
		if (b.numActiveOutputOps) ops += ', ' + b.numActiveOutputOps + ' running';
		fact(fb, 'Output operations', ops);
		facts.appendChild(fb);
		body.appendChild(facts);
		if (b.error) body.appendChild(el('p', { id: 'batch-detail-error', 'class': 'batch-error' }, b.error));

		body.appendChild(el('h3', null, 'Inputs (' + b.inputs.length + ')'));
		if (!b.inputs.length) body.appendChild(el('p', { 'class': 'muted' }, 'No input produced data for this batch.'));
		b.inputs.forEach(function (input) { body.appendChild(renderInput(input)); });

		body.appendChild(el('h3', null, 'Output operations (' + b.outputOperations.length + ')'));
		body.appendChild(renderOps(b));
	}

	function isRanges(v) {
		return Array.isArray(v) && v.every(function (r) {
			return r !== null && typeof r === 'object' && 'Topic' in r && 'Partition' in r && 'From' in r && 'Until' in r;
		});
	}

	function isStrings(v) {
		return Array.isArray(v) && v.every(function (x) { return typeof x === 'string'; });
	}

	function omittedNote(n, what) {
		return el('p', { 'class': 'omitted', 'data-omitted': n }, '… and ' + plural(n, what) + ' more, not retained (the page keeps at most 1000 per batch).');
	}

	function renderInput(input) {
		var div = el('div', { 'class': 'detail-input', 'data-stream-id': input.streamId, 'data-name': input.name });
		div.appendChild(el('h4', null, input.name + ' (stream ' + input.streamId + ') — ' +
			(input.numRecords === null ? 'records not counted yet' : plural(input.numRecords, 'record'))));
		var parts = el('div', { 'class': 'parts' });
		var md = input.metadata || {}, omitted = input.metadataOmitted || {};
		var others = [];
		Object.keys(md).forEach(function (k) {
			var v = md[k];
			if (k === 'offsets' && isRanges(v)) parts.appendChild(offsetsTable(v, omitted[k]));
			else if (k === 'files' && isStrings(v)) parts.appendChild(filesList(v, omitted[k]));
			else others.push(k);
		});
		if (input.lag && input.lag.length) parts.appendChild(lagTable(input.lag));
		if (others.length) {
			var box = el('div', { 'class': 'other-metadata' });
			box.appendChild(el('div', { 'class': 'caption' }, 'Metadata'));
			var dl = el('dl', { 'class': 'metadata' });
			others.forEach(function (k) {
				dl.appendChild(el('dt', null, k));
				var dd = el('dd', { 'data-key': k });
				dd.appendChild(el('code', null, JSON.stringify(md[k])));
				if (omitted[k]) dd.appendChild(omittedNote(omitted[k], 'item'));
				dl.appendChild(dd);
			});
			box.appendChild(dl);
			parts.appendChild(box);
		}
		if (!parts.childNodes.length) {
			parts.appendChild(el('p', { 'class': 'muted' }, 'The input says nothing more of the batch (no offsets, files or lag).'));
		}
		div.appendChild(parts);
		return div;
	}

	function table(cls, heads) {
		var t = el('table', { 'class': 'data ' + cls });
		var tr = el('tr');
		heads.forEach(function (h) { tr.appendChild(el('th', { 'class': h.num ? 'num' : null }, h.text)); });
		var thead = el('thead');
		thead.appendChild(tr);
		t.appendChild(thead);
		t.appendChild(el('tbody'));
		return t;
	}

	function offsetsTable(ranges, omitted) {
		var box = el('div', { 'class': 'offsets' });
		var total = 0;
		ranges.forEach(function (r) { total += r.Until - r.From; });
		box.appendChild(el('div', { 'class': 'caption' }, 'Kafka offset ranges: ' + plural(ranges.length, 'partition') + ', ' + plural(total, 'offset')));
		var t = table('offset-ranges', [{ text: 'Topic' }, { text: 'Partition', num: true }, { text: 'From', num: true },
			{ text: 'Until', num: true }, { text: 'Count', num: true }]);
		var tbody = t.querySelector('tbody');
		ranges.forEach(function (r) {
			var n = r.Until - r.From;
			var tr = el('tr', { 'class': 'offset-range', 'data-topic': r.Topic, 'data-partition': r.Partition,
				'data-from': r.From, 'data-until': r.Until, 'data-count': n });
			tr.appendChild(td(r.Topic, 'topic'));
			tr.appendChild(td(r.Partition, 'num'));
			tr.appendChild(td(r.From, 'num', { title: 'the first offset, inclusive' }));
			tr.appendChild(td(r.Until, 'num', { title: 'the offset after the last, exclusive' }));
			tr.appendChild(td(fmtNumber(n, 0), 'num'));
			tbody.appendChild(tr);
		});
		if (!ranges.length) emptyRow(tbody, 5, 'No partition to read.');
		box.appendChild(t);
		if (omitted) box.appendChild(omittedNote(omitted, 'range'));
		return box;
	}

	function filesList(files, omitted) {
		var box = el('div', { 'class': 'files' });
		box.appendChild(el('div', { 'class': 'caption' }, 'Files: ' + plural(files.length + (omitted || 0), 'file')));
		var ul = el('ul', { 'class': 'files' });
		files.forEach(function (f) { ul.appendChild(el('li', { 'class': 'file', 'data-path': f }, f)); });
		box.appendChild(ul);
		if (!files.length) box.appendChild(el('p', { 'class': 'muted' }, 'No new file.'));
		if (omitted) box.appendChild(omittedNote(omitted, 'file'));
		return box;
	}

	function lagTable(lag) {
		var box = el('div', { 'class': 'lag' });
		var total = 0;
		lag.forEach(function (l) { total += l.records; });
		box.appendChild(el('div', { 'class': 'caption' }, 'Consumer lag when the batch was cut: ' + plural(total, 'record')));
		var t = table('lag', [{ text: 'Partition' }, { text: 'Records behind', num: true }]);
		var tbody = t.querySelector('tbody');
		lag.forEach(function (l) {
			var tr = el('tr', { 'class': 'partition-lag', 'data-partition': l.partition, 'data-records': l.records });
			tr.appendChild(td(l.partition, 'partition'));
			tr.appendChild(td(fmtNumber(l.records, 0), 'num'));
			tbody.appendChild(tr);
		});
		box.appendChild(t);
		return box;
	}

	function renderOps(b) {
		var t = table('output-ops', [{ text: '#', num: true }, { text: 'Operation' }, { text: 'Stream' }, { text: 'Status' },
			{ text: 'Duration', num: true }, { text: 'Records', num: true }, { text: 'Rows', num: true }, { text: 'Bytes', num: true },
			{ text: 'Files', num: true }, { text: 'Rejected', num: true }, { text: 'Error' }]);
		t.id = 'batch-detail-ops';
		var tbody = t.querySelector('tbody');
		if (!b.outputOperations.length) {
			emptyRow(tbody, 11, b.status === 'queued' ? 'Not started.' : 'No output operation ran.');
			return t;
		}
		b.outputOperations.forEach(function (o) {
			var w = o.wrote || { records: 0, rows: 0, bytes: 0, files: 0 };
			var tr = el('tr', { 'class': 'output-op' + (o.status === 'failed' ? ' failed' : ''), 'data-op-id': o.id, 'data-status': o.status,
				'data-duration-ms': o.durationMs, 'data-records': w.records, 'data-rows': w.rows, 'data-bytes': w.bytes,
				'data-files': w.files, 'data-rejected': o.rejected });
			tr.appendChild(td(o.id, 'num'));
			tr.appendChild(td(o.name, 'name'));
			tr.appendChild(td(o.stream, 'stream'));
			tr.appendChild(td(o.status, 'status status-' + o.status));
			tr.appendChild(td(o.durationMs === null ? 'running' : fmtDuration(o.durationMs), 'num duration',
				{ title: o.durationMs === null ? null : o.durationMs + ' ms' }));
			tr.appendChild(td(fmtNumber(w.records, 0), 'num records'));
			tr.appendChild(td(fmtNumber(w.rows, 0), 'num rows'));
			tr.appendChild(td(fmtBytes(w.bytes), 'num bytes', { title: fmtNumber(w.bytes, 0) + ' bytes' }));
			tr.appendChild(td(fmtNumber(w.files, 0), 'num files'));
			var rej = td(fmtNumber(o.rejected, 0), 'num rejected');
			var reasons = Object.keys(o.rejectedBy || {}).sort();
			reasons.forEach(function (r) {
				rej.appendChild(el('br'));
				rej.appendChild(el('span', { 'class': 'reason', 'data-reason': r, 'data-count': o.rejectedBy[r] },
					r + ': ' + fmtNumber(o.rejectedBy[r], 0)));
			});
			tr.appendChild(rej);
			tr.appendChild(td(o.error || '', o.error ? 'error' : null));
			tbody.appendChild(tr);
		});
		return t;
	}

	// ---- polling ----

	async function refresh() {
		var errBox = document.getElementById('load-error');
		try {
			var res = await Promise.all([getJSON('statistics'), getJSON('batches'), getJSON('receivers')]);
			renderSummary(res[0]);
			renderStats(res[0], res[1]);
			renderReceivers(res[2]);
			renderActive(res[1]);
			renderCompleted(res[1]);
			loadDetail(); // not awaited: the poll goes on whatever the detail does
			errBox.hidden = true;
			updates++;
			document.body.setAttribute('data-updates', updates);
		} catch (e) {
			errBox.textContent = 'Cannot load the job\'s status: ' + e.message;
			errBox.hidden = false;
		}
		setTimeout(refresh, POLL_MS);
	}

	window.addEventListener('hashchange', function () {
		loadDetail();
		if (detail.ms !== null) document.getElementById('batch-detail').scrollIntoView({ block: 'start' });
	});
	loadDetail();
	refresh();
})();
