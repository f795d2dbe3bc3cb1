/* egresslint graph page: draws the reachability model with cytoscape.js and the dagre layered
   layout. The data (egresslint/report/draw/html.py, data()) lists nodes (clients, proxies,
   destinations), edges per segment (client -> proxy, proxy -> destination, refused bindings)
   with their verdict, pairs, reasons and cited resources, all by index.

   The page opens at namespace level: clients by namespace, destinations by the namespace of
   their ServiceEntry (a group of one is drawn as its member). Clicking a group opens it,
   clicking an open group closes it. Filters: namespace and host (substrings, comma for
   several) and the verdict classes of the legend. A proxy is drawn with a verdict only where
   both its incoming and its outgoing edges of that verdict are shown. Past the edge budget,
   the client namespaces with the most bypass, unreachable and denied pairs are drawn first,
   and the banner says so. */
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("graph-data").textContent);
  const CLASSES = D.classes;
  const REFUSED = CLASSES.indexOf("refused");
  const COLOURS = {
    controlled: "#1a7f37",
    denied: "#0969da",
    bypass: "#cf222e",
    unreachable: "#9a6700",
    refused: "#57606a",
  };
  const MEANING = {
    controlled: "goes through the egress proxy, which lets it out",
    denied:
      "a policy refuses it (at the proxy, or a NetworkPolicy or REGISTRY_ONLY on a direct path)",
    bypass: "leaves the cluster without passing an egress proxy",
    unreachable: "cannot work (a NetworkPolicy cuts the proxy off, TLS is broken, ...)",
    refused: "the waypoint refuses the binding: the traffic goes direct instead",
  };
  const KINDS = { c: "client", p: "proxy", d: "destination" };
  const nodes = D.nodes.map((n, i) => ({
    id: `n${i}`,
    kind: KINDS[n[0]],
    label: n[1],
    group: n[2],
    detail: n[3],
    findings: n[4],
    pairs: n[5],
  }));
  const edge = (e, from) => ({
    from,
    to: e[1],
    cls: e[2],
    count: e[3],
    set: e[4],
    reasons: e.slice(5),
  });
  const edges = D.edges.map((e) => edge(e, e[0]));
  const nsEdges = D.nsEdges.map((e) => edge(e, e[0]));
  const members = new Map(); // group id -> member nodes
  for (const n of nodes) {
    if (n.kind === "proxy") continue;
    const gid = groupId(n);
    if (!members.has(gid)) members.set(gid, []);
    members.get(gid).push(n);
  }

  const state = { open: new Set(), classes: new Set(CLASSES), ns: [], host: [], partial: false };
  const buckets = new Map(); // "gp:proxy" -> the ids of the destinations in it
  let cy = null;

  function groupId(n) {
    return `${n.kind === "client" ? "gc" : "gd"}:${n.group}`;
  }

  // ---- what is shown ----------------------------------------------------------------------
  function terms(text) {
    return text
      .toLowerCase()
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
  }

  function matches(list, text) {
    const lower = text.toLowerCase();
    return !list.length || list.some((t) => lower.includes(t));
  }

  function clientEnd(n) {
    return state.open.has(groupId(n)) ? n.id : groupId(n);
  }

  /* Where an edge from `proxy` to destination `n` ends: the destination itself while the
     host filter is set; in a drawing with too many edges out of the proxies, the proxy's
     bucket ("gp:", or a copy of the destination in the open bucket, "s:proxy:node");
     otherwise the destination's group, or the destination in an open or lone group. */
  function destEnd(n, proxy, bucketed) {
    if (state.host.length) return n.id;
    if (bucketed) {
      const bucket = `gp:${proxy}`;
      if (!buckets.has(bucket)) buckets.set(bucket, new Set());
      buckets.get(bucket).add(n.id);
      return state.open.has(bucket) ? `s:${proxy}:${n.id}` : bucket;
    }
    const gid = groupId(n);
    const alone = members.get(gid).length < 2 || !n.group;
    return alone || state.open.has(gid) ? n.id : gid;
  }

  function add(into, key, from, to, e) {
    let found = into.get(key);
    if (!found) {
      found = { from, to, cls: e.cls, count: 0, sets: new Set(), reasons: new Set() };
      into.set(key, found);
    }
    found.count += e.count;
    found.sets.add(e.set);
    for (const r of e.reasons) if (found.reasons.size < 3) found.reasons.add(r);
  }

  /* The edges drawn for the client namespaces in `allowed` (a Set), before the budget. */
  function collect(allowed, bucketed) {
    buckets.clear();
    const ins = new Map();
    const outs = new Map();
    const refused = new Map();
    const into = (from, e, group) => {
      if (!allowed.has(group) || !state.classes.has(CLASSES[e.cls])) return;
      const proxy = nodes[e.to].id;
      add(ins, `${from}|${proxy}|${e.cls}`, from, proxy, e);
    };
    for (const e of edges) {
      const a = nodes[e.from];
      if (a.kind === "client") into(clientEnd(a), e, a.group);
      else if (state.classes.has(CLASSES[e.cls])) {
        const d = nodes[e.to];
        if (!matches(state.host, d.label)) continue;
        const to = destEnd(d, a.id, bucketed);
        add(e.cls === REFUSED ? refused : outs, `${a.id}|${to}|${e.cls}`, a.id, to, e);
      }
    }
    for (const e of nsEdges) {
      // edges sent per namespace only: an open namespace keeps them on its box
      const ns = D.namespaces[e.from];
      const gid = `gc:${ns}`;
      into(state.open.has(gid) ? `open-${gid}` : gid, e, ns);
    }
    // a proxy keeps a verdict only where traffic of that verdict both comes in and goes out
    const inKeys = new Set([...ins.values()].map((e) => `${e.to}|${e.cls}`));
    const outKeys = new Set([...outs.values()].map((e) => `${e.from}|${e.cls}`));
    const keep = (map, keys, end) =>
      [...map.values()].filter((e) => keys.has(`${e[end]}|${e.cls}`));
    const kept = keep(outs, inKeys, "from");
    // a refused binding is drawn to the destinations that are drawn anyway
    const reached = new Set(kept.map((e) => e.to));
    return {
      ins: keep(ins, outKeys, "to"),
      outs: kept,
      refused: [...refused.values()].filter((e) => reached.has(e.to)),
    };
  }

  function problems(ns) {
    let score = 0;
    for (const n of members.get(`gc:${ns}`) || []) {
      score += n.pairs[2] * 1e6 + n.pairs[3] * 1e3 + n.pairs[1];
    }
    return score;
  }

  function count(found) {
    return found.ins.length + found.outs.length + found.refused.length;
  }

  /* The edges of the namespaces in `list`; past half the budget out of the proxies, each
     proxy's destinations go in one bucket (opened on click). */
  function pick(list) {
    const allowed = new Set(list);
    const found = collect(allowed, false);
    if (state.host.length || found.outs.length + found.refused.length <= D.budget / 2) {
      return { found, bucketed: false };
    }
    return { found: collect(allowed, true), bucketed: true };
  }

  /* Namespaces to draw: those the filter matches, cut to the edge budget when needed. */
  function choose() {
    const wanted = D.namespaces.filter((ns) => members.has(`gc:${ns}`) && matches(state.ns, ns));
    const all = pick(wanted);
    const total = count(all.found);
    if (total <= D.budget) return { ...all, wanted, shown: wanted, total };
    const found = all.found;
    const perNs = new Map();
    for (const e of found.ins) {
      const ns = e.from.includes("gc:") ? e.from.split("gc:")[1] : nodeById(e.from).group;
      perNs.set(ns, (perNs.get(ns) || 0) + 1);
    }
    const ranked = [...wanted].sort((a, b) => problems(b) - problems(a) || a.localeCompare(b));
    const shown = [];
    let used = 0;
    for (const ns of ranked) {
      const cost = perNs.get(ns) || 0;
      if (shown.length && used + cost > D.budget / 2) break;
      shown.push(ns);
      used += cost;
    }
    return { ...pick(shown), wanted, shown, total };
  }

  function nodeById(id) {
    return nodes[Number(id.slice(1))];
  }

  // ---- cytoscape elements -----------------------------------------------------------------
  function size(text) {
    const lines = text.split("\n");
    const longest = Math.max(...lines.map((l) => l.length));
    return { w: Math.min(320, 20 + longest * 7), h: 14 + lines.length * 15 };
  }

  function nodeElement(id, text, classes, parent, extra) {
    const data = { id, text, ...size(text), ...extra };
    if (parent) data.parent = parent;
    return { group: "nodes", data, classes };
  }

  function clientText(n) {
    return `${n.label === "*" ? "* (any pod)" : n.label}\n${n.detail}`;
  }

  /* "namespace shop", "ServiceEntries in shop"; the client of a view that holds no client
     namespace is any ambient pod of the mesh (namespace "*"). */
  function groupTitle(gid) {
    const ns = gid.slice(3);
    if (gid.startsWith("gp:")) {
      return ns === `n${D.direct}`
        ? "destinations reached directly"
        : `destinations via ${nodeById(ns).label}`;
    }
    if (gid.startsWith("gd:")) return `ServiceEntries in ${ns}`;
    return ns === "*" ? "any client namespace" : `namespace ${ns}`;
  }

  function groupMembers(gid) {
    if (gid.startsWith("gp:")) return [...(buckets.get(gid) || [])].map(nodeById);
    return members.get(gid) || [];
  }

  function groupText(gid) {
    const list = groupMembers(gid);
    const what = gid.startsWith("gc:") ? "client" : "destination";
    return `\u25b8 ${groupTitle(gid)}\n${list.length} ${what}${list.length === 1 ? "" : "s"}`;
  }

  function nodeText(n) {
    if (n.kind === "client") return clientText(n);
    if (n.kind === "proxy") return `${n.detail}\n${n.label}`;
    return n.detail ? `${n.label}\n${n.detail}` : n.label;
  }

  function nodeElements(ends) {
    const out = [];
    const parents = new Set();
    const all = new Set(ends);
    for (const id of ends) {
      // an open box with edges of its own (per namespace): every member is drawn in it
      if (id.startsWith("open-gc:")) for (const n of members.get(id.slice(5))) all.add(n.id);
    }
    for (const id of all) {
      if (id.startsWith("open-")) {
        parents.add(id.slice(5));
        continue;
      }
      if (id.startsWith("s:")) {
        // a destination's copy in the open bucket of a proxy
        const [, proxy, node] = id.split(":");
        const n = nodeById(node);
        parents.add(`gp:${proxy}`);
        out.push(nodeElement(id, nodeText(n), n.kind, `open-gp:${proxy}`, { node }));
        continue;
      }
      if (id.includes(":")) {
        out.push(nodeElement(id, groupText(id), `group ${id.slice(0, 2)}`, null, { gid: id }));
        continue;
      }
      const n = nodeById(id);
      let parent = null;
      if (n.kind !== "proxy" && state.open.has(groupId(n))) {
        parent = `open-${groupId(n)}`;
        parents.add(groupId(n));
      }
      const cls = n.id === `n${D.direct}` ? "proxy direct" : n.kind;
      out.push(nodeElement(id, nodeText(n), cls, parent, { node: id }));
    }
    for (const gid of parents) {
      const data = { id: `open-${gid}`, text: `\u25be ${groupTitle(gid)}`, gid };
      out.push({ group: "nodes", data, classes: "open" });
    }
    return out;
  }

  function cited(sets) {
    const seen = new Set();
    for (const s of sets) for (const i of D.sets[s]) seen.add(i);
    return [...seen];
  }

  function edgeText(e, refs) {
    const head = e.cls === REFUSED ? "binding refused" : CLASSES[e.cls];
    let text = `${head} \u00b7 ${e.count}`;
    if (refs.length) {
      text += `\n${D.cited[refs[0]][0]}${refs.length > 1 ? ` +${refs.length - 1}` : ""}`;
    }
    return text;
  }

  function edgeElement(e, i) {
    const refs = cited(e.sets);
    const cls = CLASSES[e.cls];
    return {
      group: "edges",
      data: {
        id: `e${i}`,
        source: e.from,
        target: e.to,
        text: edgeText(e, refs),
        cls: e.cls,
        count: e.count,
        refs,
        reasons: [...e.reasons],
      },
      classes: `${cls} w${Math.min(4, Math.floor(Math.log10(e.count)))}`,
    };
  }

  const STYLE = [
    {
      selector: "node",
      style: {
        shape: "round-rectangle",
        width: "data(w)",
        height: "data(h)",
        label: "data(text)",
        "text-wrap": "wrap",
        "text-valign": "center",
        "text-halign": "center",
        "font-size": 12,
        "min-zoomed-font-size": 6,
        "background-color": "#ffffff",
        "border-width": 1,
        "border-color": "#8c959f",
      },
    },
    { selector: "node.client", style: { "background-color": "#dafbe1" } },
    { selector: "node.proxy", style: { "background-color": "#ddf4ff", "border-color": "#0969da" } },
    {
      selector: "node.direct",
      style: { "background-color": "#ffebe9", "border-color": "#cf222e", "border-width": 2 },
    },
    { selector: "node.destination", style: { shape: "round-rectangle", "border-style": "solid" } },
    {
      selector: "node.group",
      style: { "background-color": "#f6f8fa", "border-style": "double", "border-width": 3 },
    },
    { selector: "node.group.gc", style: { "background-color": "#eefbf1" } },
    {
      selector: "node.open",
      style: {
        "background-color": "#f6f8fa",
        "background-opacity": 0.6,
        "text-valign": "top",
        "text-halign": "center",
        "font-weight": "bold",
        padding: 8,
      },
    },
    { selector: "node:selected", style: { "border-color": "#1f2328", "border-width": 3 } },
    {
      selector: "edge",
      style: {
        "curve-style": "bezier",
        "control-point-step-size": 64,
        width: 1.5,
        "target-arrow-shape": "triangle",
        "arrow-scale": 0.9,
        label: "data(text)",
        "font-size": 10,
        "text-wrap": "wrap",
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.85,
        "text-background-padding": 1,
        "min-zoomed-font-size": 7,
      },
    },
    ...Object.entries(COLOURS).map(([cls, colour]) => ({
      selector: `edge.${cls}`,
      style: { "line-color": colour, "target-arrow-color": colour, color: colour },
    })),
    ...[1, 2, 3, 4].map((w) => ({ selector: `edge.w${w}`, style: { width: 1.5 + w * 1.2 } })),
    { selector: "edge.denied", style: { "target-arrow-shape": "tee" } },
    { selector: "edge.bypass", style: { "line-style": "dashed" } },
    {
      selector: "edge.unreachable",
      style: { "line-style": "dotted", "target-arrow-shape": "tee" },
    },
    {
      selector: "edge.refused",
      style: { "line-style": "dashed", "target-arrow-shape": "tee", "line-opacity": 0.8 },
    },
    { selector: "edge:selected", style: { "overlay-opacity": 0.15, "overlay-color": "#1f2328" } },
  ];

  // ---- drawing ----------------------------------------------------------------------------
  function draw() {
    const chosen = choose();
    state.partial = chosen.shown.length < D.namespaces.length;
    const { ins, outs, refused } = chosen.found;
    const all = [...ins, ...refused, ...outs];
    const ends = new Set();
    for (const e of all) {
      ends.add(e.from);
      ends.add(e.to);
    }
    const elements = [...nodeElements(ends), ...all.map(edgeElement)];
    const t0 = performance.now();
    cy.elements().remove();
    cy.add(elements);
    // dagre orders by the links between nodes: one edge per linked pair is enough
    const seen = new Set();
    const links = cy.edges().filter((e) => {
      const key = `${e.data("source")}|${e.data("target")}`;
      return !seen.has(key) && seen.add(key);
    });
    cy.nodes()
      .union(links)
      .layout({
        name: "dagre",
        ranker: "longest-path",
        rankDir: "LR",
        nodeSep: spread(elements),
        edgeSep: 16,
        rankSep: 240,
        padding: 16,
        fit: true,
        animate: false,
      })
      .run();
    readable();
    banner(chosen, all.length);
    document.body.dataset.layoutMs = String(Math.round(performance.now() - t0));
  }

  /* A drawing too large to read when it fits the page opens at a readable zoom, its
     clients at the left edge, centred (scroll or pinch to zoom out, drag to move). */
  function readable() {
    const least = 0.7;
    if (cy.zoom() >= least) return;
    const all = cy.elements().boundingBox();
    const clients = cy.nodes(".gc, .client").boundingBox();
    cy.zoom(least);
    const middle = (clients.y1 + clients.y2) / 2;
    cy.pan({ x: 16 - all.x1 * least, y: cy.height() / 2 - middle * least });
  }

  /* Room between the nodes of a rank: a small drawing spreads over the page's height, so
     that the edges' labels have space and fitting the page does not shrink the text. */
  function spread(elements) {
    const ranks = [0, 0, 0];
    for (const e of elements) {
      if (e.group !== "nodes" || e.classes === "open") continue;
      const id = e.data.id;
      const fixed = id.startsWith("gc:") ? 0 : /^(gd:|gp:|s:)/.test(id) ? 2 : null;
      ranks[fixed ?? ["client", "proxy", "destination"].indexOf(nodeById(id).kind)] += 1;
    }
    const most = Math.max(1, ...ranks);
    const room = document.getElementById("cy").clientHeight * 0.8;
    return Math.max(30, Math.min(140, room / most - 40));
  }

  function banner(chosen, drawn) {
    const el = document.getElementById("banner");
    const left = chosen.wanted.length - chosen.shown.length;
    if (!D.nodes.length) {
      el.textContent = "The view has no external destination and no client: nothing to draw.";
    } else if (!drawn) {
      el.textContent = "Nothing matches the filters.";
    } else if (left > 0) {
      el.textContent =
        `Showing ${chosen.shown.length} of ${chosen.wanted.length} client namespaces ` +
        `(${drawn} of ${chosen.total} edges): those with the most bypass, unreachable and ` +
        "denied pairs first. Type namespaces in the filter to see the others.";
    } else {
      el.hidden = true;
      return;
    }
    el.hidden = false;
  }

  // ---- legend and filters -----------------------------------------------------------------
  function legend() {
    const box = document.getElementById("legend");
    CLASSES.forEach((cls, i) => {
      const item = document.createElement("label");
      item.dataset.class = cls;
      item.title = MEANING[cls];
      const check = document.createElement("input");
      check.type = "checkbox";
      check.checked = true;
      check.addEventListener("change", () => {
        if (check.checked) state.classes.add(cls);
        else state.classes.delete(cls);
        draw();
      });
      const swatch = document.createElement("span");
      swatch.className = `swatch ${cls}`;
      swatch.style.borderTopColor = COLOURS[cls];
      const name = document.createElement("span");
      name.className = `verdict ${cls}`;
      name.textContent = cls === "refused" ? "refused binding" : cls;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = ` ${D.counts[i]}`;
      item.append(check, swatch, name, count);
      box.append(item);
    });
  }

  function filters() {
    let timer = null;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.ns = terms(document.getElementById("f-namespace").value);
        state.host = terms(document.getElementById("f-host").value);
        draw();
      }, 250);
    };
    document.getElementById("f-namespace").addEventListener("input", later);
    document.getElementById("f-host").addEventListener("input", later);
    document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  }

  // ---- details ----------------------------------------------------------------------------
  function el(tag, text, cls) {
    const out = document.createElement(tag);
    if (text !== undefined) out.textContent = text;
    if (cls) out.className = cls;
    return out;
  }

  function findingsOf(list) {
    const span = el("span");
    for (const f of list) {
      const [id, level] = f.split(" ");
      span.append(el("span", id, `finding ${level}`));
    }
    return span;
  }

  function pairsList(pairs) {
    const ul = el("ul");
    CLASSES.slice(0, REFUSED).forEach((cls, i) => {
      if (!pairs[i]) return;
      const li = el("li");
      li.append(el("span", cls, `verdict ${cls}`), ` ${pairs[i]} pair${pairs[i] === 1 ? "" : "s"}`);
      ul.append(li);
    });
    return ul;
  }

  function sum(list) {
    const out = CLASSES.slice(0, REFUSED).map(() => 0);
    for (const n of list) n.pairs.forEach((v, i) => (out[i] += v));
    return out;
  }

  function showNode(data) {
    const panel = document.getElementById("details");
    panel.replaceChildren();
    if (data.gid) {
      const list = groupMembers(data.gid);
      const client = data.gid.startsWith("gc:");
      panel.append(el("h2", groupTitle(data.gid)));
      const what = client ? "client(s)" : "destination(s)";
      const verb = state.open.has(data.gid) ? "close" : "open";
      panel.append(el("p", `${list.length} ${what}; click to ${verb}.`));
      panel.append(pairsList(sum(list)));
      const ul = el("ul");
      for (const n of list.slice(0, 50))
        ul.append(el("li", client ? clientText(n).replace("\n", ", ") : n.label));
      panel.append(ul);
      return;
    }
    const n = nodeById(data.node);
    const title = n.kind === "client" ? `${n.group}/${n.label}` : n.label;
    panel.append(el("h2", title));
    panel.append(el("p", `${n.kind}${n.detail ? `: ${n.detail}` : ""}`));
    panel.append(pairsList(n.pairs));
    if (n.findings.length) {
      const p = el("p", "Findings: ");
      p.append(findingsOf(n.findings));
      panel.append(p);
    }
    if (n.kind === "client") {
      panel.append(el("p", "Every path of this client, step by step:"));
      panel.append(el("code", `egresslint reach PATHS --from ${n.group}/${n.label}`));
    } else if (n.kind === "destination" && n.group) {
      panel.append(el("p", "Every client's path to it, step by step:"));
      panel.append(el("code", `egresslint reach PATHS --to ${n.label}`));
    }
  }

  function reasonText(index) {
    return D.reasons[index].map((c) => D.clauses[c]).join("; ");
  }

  function showEdge(data) {
    const panel = document.getElementById("details");
    panel.replaceChildren();
    const cls = CLASSES[data.cls];
    const h = el("h2");
    h.append(
      el("span", cls === "refused" ? "refused binding" : cls, `verdict ${cls}`),
      ` \u00b7 ${data.count} pair${data.count === 1 ? "" : "s"}`,
    );
    panel.append(h, el("p", MEANING[cls]));
    const fromProxy = /^n\d+$/.test(data.source) && nodeById(data.source).kind === "proxy";
    if (fromProxy && state.partial) {
      const note = "Not every client namespace is drawn: an edge out of a proxy counts the pairs";
      panel.append(el("p", `${note} of them all.`));
    }
    if (data.reasons.length) {
      panel.append(el("h3", "Why"));
      const ul = el("ul");
      for (const r of data.reasons) ul.append(el("li", reasonText(r)));
      panel.append(ul);
    }
    if (data.refs.length) {
      panel.append(el("h3", "Resources on this edge"));
      const ul = el("ul");
      for (const i of data.refs) {
        const [ref, file, line, role, found] = D.cited[i];
        const li = el("li");
        const what = D.roles[role] ? `: ${D.roles[role]} ` : " ";
        li.append(
          el("b", ref),
          what,
          findingsOf(found),
          el("div", `${D.files[file]}:${line}`, "where"),
        );
        ul.append(li);
      }
      panel.append(ul);
    }
  }

  function toggle(gid) {
    if (state.open.has(gid)) state.open.delete(gid);
    else state.open.add(gid);
    draw();
  }

  // ---- start ------------------------------------------------------------------------------
  legend();
  filters();
  cy = cytoscape({
    container: document.getElementById("cy"),
    style: STYLE,
    minZoom: 0.05,
    maxZoom: 2,
    textureOnViewport: true,
    hideEdgesOnViewport: D.edges.length + D.nsEdges.length > 2000,
    boxSelectionEnabled: false,
  });
  window.egresslint = { cy }; // for a look from the browser's console (and the tests)
  cy.on("tap", (evt) => {
    const target = evt.target;
    if (target === cy) return;
    const data = target.data();
    if (target.isEdge()) {
      showEdge(data);
      return;
    }
    showNode(data);
    if (data.gid) toggle(data.gid);
  });
  draw();
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      document.body.dataset.renderMs = String(Math.round(performance.now()));
      document.body.dataset.nodes = String(cy.nodes().length);
      document.body.dataset.edges = String(cy.edges().length);
    }),
  );
})();
