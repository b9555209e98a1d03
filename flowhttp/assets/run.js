// htdag run page: draws a run's DAG with dagre (layout only; the SVG is
// drawn here), colours nodes by state, shows a node's details on click,
// expands child runs as clusters, and polls once a second while anything
// shown is unfinished. No network beyond this server.
"use strict";
(function () {
  const POLL_MS = 1000; // never faster: the issue allows polling at 1 s
  const MAX_EXPAND_ALL = 100; // child runs fetched by "expand all"
  const MIN_SCALE = 0.5; // smallest zoom that keeps labels readable
  const root = document.getElementById("graph");
  const topID = Number(root.dataset.run);
  const graphs = new Map(); // run id -> /runs/{id}.json
  const expanded = new Set(); // child run ids drawn as clusters
  let selected = null; // "runID/nodeID"
  let timer = null;

  const svgNS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    const e = document.createElementNS(svgNS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmtMS(ms) {
    if (ms == null) return "";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
    return Math.round(ms / 1000) + " s";
  }

  async function fetchRun(id) {
    const r = await fetch("/runs/" + id + ".json", { cache: "no-store" });
    if (!r.ok) throw new Error("run " + id + ": " + r.status + " " + (await r.text()));
    const g = await r.json();
    graphs.set(id, g);
    return g;
  }

  function key(runID, nodeID) { return runID + "/" + nodeID; }

  // addRun puts a run's nodes and edges into g, inside cluster (or at top).
  function addRun(g, run, cluster) {
    const id = run.run.id;
    for (const n of run.nodes) {
      const k = key(id, n.id);
      const line2 = n.kind + (n.duration_ms != null ? " · " + fmtMS(n.duration_ms) : "");
      const width = Math.max(110, 7.2 * Math.max(n.id.length, line2.length) + 20);
      g.setNode(k, { width: width, height: 40, run: id, node: n });
      if (cluster) g.setParent(k, cluster);
    }
    for (const n of run.nodes) {
      for (const p of n.parents) g.setEdge(key(id, p), key(id, n.id), { kind: "dep" });
    }
    for (const n of run.nodes) {
      if (n.child_run_id == null || !expanded.has(n.child_run_id)) continue;
      const child = graphs.get(n.child_run_id);
      if (!child) continue;
      const c = "run:" + n.child_run_id;
      g.setNode(c, { label: "run " + n.child_run_id + (child.run.name ? " " + child.run.name : "") + " (" + child.run.state + ")", cluster: true, clusterLabelPos: "top" });
      if (cluster) g.setParent(c, cluster);
      addRun(g, child, c);
      // The node that runs as the child run points at the child run's roots.
      for (const cn of child.nodes) {
        if (cn.parents.length === 0) g.setEdge(key(id, n.id), key(child.run.id, cn.id), { kind: "into-child" });
      }
    }
  }

  function layout(rankdir) {
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: rankdir, nodesep: 14, ranksep: 46, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(function () { return {}; });
    addRun(g, graphs.get(topID), null);
    dagre.layout(g);
    return g;
  }

  function draw() {
    const g = layout("LR");

    const size = g.graph();
    root.textContent = "";
    // Shrink a big drawing to fit the box, down to MIN_SCALE; past that,
    // scroll.
    const scale = Math.max(MIN_SCALE, Math.min(1, (root.clientWidth - 4) / size.width, (window.innerHeight * 0.78 - 4) / size.height));
    const svg = el("svg", { width: Math.ceil(size.width * scale), height: Math.ceil(size.height * scale),
      viewBox: "0 0 " + Math.ceil(size.width) + " " + Math.ceil(size.height), id: "dag" }, root);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#5b616b" }, marker);

    for (const v of g.nodes()) {
      const c = g.node(v);
      if (!c.cluster) continue;
      const grp = el("g", { class: "cluster", "data-run": v.slice(4) }, svg);
      el("rect", { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: 6 }, grp);
      const t = el("text", { x: c.x - c.width / 2 + 6, y: c.y - c.height / 2 + 13 }, grp);
      t.textContent = c.label;
    }
    for (const e of g.edges()) {
      const data = g.edge(e);
      const pts = data.points;
      // A smooth line through dagre's points: quadratic curves between
      // their midpoints.
      let d = "M" + pts[0].x + "," + pts[0].y;
      for (let i = 1; i < pts.length - 1; i++) {
        const mx = (pts[i].x + pts[i + 1].x) / 2, my = (pts[i].y + pts[i + 1].y) / 2;
        d += " Q" + pts[i].x + "," + pts[i].y + " " + mx + "," + my;
      }
      d += " L" + pts[pts.length - 1].x + "," + pts[pts.length - 1].y;
      el("path", { d: d, class: "edge " + data.kind, "data-from": e.v, "data-to": e.w }, svg);
    }
    for (const v of g.nodes()) {
      const c = g.node(v);
      if (c.cluster) continue;
      const n = c.node;
      const cls = "node state-" + n.state + (n.child_run_id != null ? " sub" : "") + (selected === v ? " selected" : "");
      const grp = el("g", { class: cls, "data-key": v, "data-run": c.run, "data-node": n.id, "data-state": n.state }, svg);
      const title = el("title", {}, grp);
      title.textContent = n.id + " (" + n.kind + "): " + n.state +
        (n.duration_ms != null ? ", " + fmtMS(n.duration_ms) : "") +
        ", attempt " + n.attempt + "/" + n.max_attempts + (n.last_error ? "\nlast error: " + n.last_error : "");
      el("rect", { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height }, grp);
      const t1 = el("text", { x: c.x - c.width / 2 + 8, y: c.y - 4 }, grp);
      t1.textContent = n.id;
      const t2 = el("text", { x: c.x - c.width / 2 + 8, y: c.y + 12 }, grp);
      t2.textContent = n.kind + (n.duration_ms != null ? " · " + fmtMS(n.duration_ms) : "");
      grp.addEventListener("click", function () { select(v); });
    }
    summary();
    if (selected) details(selected);
  }

  function summary() {
    const r = graphs.get(topID).run;
    const s = document.getElementById("summary");
    s.textContent = "";
    const b = document.createElement("strong");
    b.textContent = "run " + r.id + (r.name ? " " + r.name : "");
    s.appendChild(b);
    const st = document.createElement("span");
    st.className = "state " + r.state;
    st.id = "run-state";
    st.textContent = r.state;
    s.append(" ", st, " " + r.nodes + " nodes, " + r.unfinished + " unfinished, " + r.failed + " failed" +
      (r.duration_ms != null ? ", " + fmtMS(r.duration_ms) : ""));
    if (r.timeout_ms) {
      s.append(" · deadline " + new Date(r.deadline_at).toLocaleString() + " (timeout_ms " + r.timeout_ms + ")");
    }
    if (r.cancel_reason) {
      const c = document.createElement("span");
      c.id = "run-cancel-reason";
      c.textContent = r.cancel_reason;
      s.append(" · ", c);
    }
    if (r.parent_run_id != null) {
      const a = document.createElement("a");
      a.href = "/runs/" + r.parent_run_id;
      a.textContent = "parent run " + r.parent_run_id + " (node " + r.parent_node + ")";
      s.append(" · ", a);
    }
    if (r.top_run_id !== r.id) {
      const a = document.createElement("a");
      a.href = "/runs/" + r.top_run_id;
      a.textContent = "top run " + r.top_run_id;
      s.append(" · ", a);
    }
  }

  function findNode(k) {
    const i = k.indexOf("/");
    const g = graphs.get(Number(k.slice(0, i)));
    return g && { run: g, node: g.nodes.find(function (n) { return n.id === k.slice(i + 1); }) };
  }

  function details(k) {
    const box = document.getElementById("details");
    const f = findNode(k);
    if (!f || !f.node) { box.textContent = "Click a node for its details."; return; }
    const n = f.node;
    box.textContent = "";
    const h = document.createElement("div");
    h.innerHTML = "<strong></strong> ";
    h.firstChild.textContent = n.id;
    h.append("run " + f.run.run.id + " · kind " + n.kind + " · " + n.state + " · attempt " + n.attempt + "/" + n.max_attempts +
      (n.duration_ms != null ? " · " + fmtMS(n.duration_ms) : "") + " · job " + n.job_id + " ");
    if (f.run.river_ui) {
      const a = document.createElement("a");
      a.href = f.run.river_ui + n.job_id;
      a.textContent = "job in River UI";
      a.id = "river-ui-job";
      h.append(a);
    }
    box.appendChild(h);
    if (n.parents.length) {
      const p = document.createElement("div");
      p.textContent = "after: " + n.parents.join(", ");
      box.appendChild(p);
    }
    if (n.last_error) {
      const pre = document.createElement("pre");
      pre.textContent = n.last_error;
      box.appendChild(pre);
    }
    if (n.child_run_id != null) {
      const c = document.createElement("div");
      const btn = document.createElement("button");
      btn.id = "toggle-child";
      btn.textContent = (expanded.has(n.child_run_id) ? "collapse" : "expand") + " child run " + n.child_run_id;
      btn.addEventListener("click", function () { toggle(n.child_run_id); });
      const a = document.createElement("a");
      a.href = "/runs/" + n.child_run_id;
      a.textContent = "open run " + n.child_run_id;
      c.append(btn, " ", a);
      box.appendChild(c);
    }
  }

  function select(k) {
    selected = k;
    document.querySelectorAll("g.node.selected").forEach(function (e) { e.classList.remove("selected"); });
    const e = document.querySelector('g.node[data-key="' + CSS.escape(k) + '"]');
    if (e) e.classList.add("selected");
    details(k);
  }

  async function toggle(childID) {
    if (expanded.has(childID)) {
      expanded.delete(childID);
    } else {
      await fetchRun(childID);
      expanded.add(childID);
    }
    draw();
    schedule();
  }

  // expandAll opens every child run below what is shown, breadth first.
  async function expandAll() {
    let queue = [topID];
    let fetched = 0;
    while (queue.length && fetched < MAX_EXPAND_ALL) {
      const next = [];
      for (const id of queue) {
        const g = graphs.get(id) || (await fetchRun(id));
        for (const n of g.nodes) {
          if (n.child_run_id == null || fetched >= MAX_EXPAND_ALL) continue;
          if (!graphs.has(n.child_run_id)) { await fetchRun(n.child_run_id); fetched++; }
          expanded.add(n.child_run_id);
          next.push(n.child_run_id);
        }
      }
      queue = next;
    }
    draw();
    schedule();
  }

  function unfinished() {
    if (!graphs.get(topID).run.finished) return true;
    for (const id of expanded) {
      const g = graphs.get(id);
      if (g && !g.run.finished) return true;
    }
    return false;
  }

  // schedule polls while anything shown can still change.
  function schedule() {
    if (timer || !unfinished()) return;
    timer = setTimeout(async function () {
      timer = null;
      try {
        await fetchRun(topID);
        for (const id of expanded) await fetchRun(id);
        // Child runs that appeared since (a node started its child run) can now be expanded.
        draw();
      } catch (err) {
        document.getElementById("summary").textContent = String(err);
      }
      schedule();
    }, POLL_MS);
  }

  document.getElementById("expand-all").addEventListener("click", expandAll);
  fetchRun(topID).then(function () {
    if (new URLSearchParams(location.search).get("expand") === "all") return expandAll();
    draw();
    schedule();
  }).catch(function (err) {
    root.textContent = String(err);
  }).finally(function () {
    document.body.dataset.ready = "1";
  });
})();
