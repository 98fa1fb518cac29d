/* Supervisor live board. State = the latest summary per session (the gateway
 * sends the updated summary with every event, so this page never recomputes
 * scores or risk; it only renders). */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const sessions = new Map(); // session_id -> summary
  let openSession = null; // session shown in the drawer
  let timeline = null; // last timeline message for it
  let viewer = null;
  const DIMS = ["goal", "approach", "bond"];
  const SEV = { critical: 3, warning: 2, info: 1 };

  const client = new AM.Client({
    status: AM.showStatus,
    welcome(msg) {
      viewer = msg.viewer;
      const scope = viewer.role === "supervisor" ? (viewer.all ? "all groups" : viewer.groups.join(", ")) : "own sessions";
      $("who").textContent = `${viewer.name} · ${scope}`;
    },
    snapshot(list) {
      sessions.clear();
      for (const s of list) sessions.set(s.session_id, s);
      render();
      if (openSession) requestTimeline(openSession);
    },
    event(msg) {
      if (msg.summary) sessions.set(msg.session_id, msg.summary);
      render();
      if (msg.session_id === openSession && msg.kind !== "signal") requestTimeline(openSession);
      else if (msg.session_id === openSession) renderDrawer();
    },
    timeline(msg) {
      if (msg.session_id === openSession) {
        timeline = msg;
        renderDrawer();
      }
    },
    error(msg) {
      AM.notice(msg.message || "request refused");
    },
    notice: AM.notice,
    authFailed(reason) {
      sessionStorage.removeItem("am-token");
      AM.tokenBox($("main"), (t) => location.reload(), reason);
    },
  });

  function elapsedSeconds(s) {
    if (!s.started_at) return null;
    const end = s.ended_at ? Date.parse(s.ended_at) : client.now();
    const wall = Math.max(0, (end - Date.parse(s.started_at)) / 1000);
    // the processor's own event-time figure; ahead of the wall clock when a session is replayed fast
    const seen = s.signal && typeof s.signal.elapsed_s === "number" ? s.signal.elapsed_s : 0;
    return Math.max(wall, seen);
  }

  function sorted() {
    const list = [...sessions.values()];
    const key = $("sort").value;
    if (key === "elapsed") list.sort((a, b) => (elapsedSeconds(b) || 0) - (elapsedSeconds(a) || 0));
    else if (key === "counselor") list.sort((a, b) => String(a.counselor_id).localeCompare(String(b.counselor_id)));
    else list.sort((a, b) => b.risk - a.risk || String(a.session_id).localeCompare(String(b.session_id)));
    return list;
  }

  function unvalidated(s, dim) {
    return !!(s.validation && (s.validation.unvalidated || []).includes(dim));
  }

  function scoreCell(s, dim) {
    const v = s.current ? s.current[dim] : undefined;
    const d = s.change ? s.change[dim] : undefined;
    const trend = typeof d === "number" ? (d <= -0.3 ? "down" : d >= 0.3 ? "up" : "flat") : "none";
    const unval = unvalidated(s, dim);
    return AM.el("td", { class: `score ${AM.level(v)}${unval ? " unvalidated" : ""}`, "data-dim": dim,
      "data-unvalidated": unval ? "1" : null,
      title: unval ? "unvalidated: counselors do not see this dimension's scores" : null },
      AM.el("span", { class: "value", text: AM.fmtScore(v) }),
      unval && typeof v === "number" ? AM.el("em", { class: "unval", text: "unvalidated" }) : null,
      typeof d === "number" ? AM.el("span", { class: `delta ${trend}`, title: "change since the previous phase",
        text: `${trend === "down" ? "▼" : trend === "up" ? "▲" : "▸"} ${AM.fmtDelta(d)}` }) : null);
  }

  function phaseCell(s) {
    const phases = ["early", "middle", "late"];
    const at = phases.indexOf(s.phase);
    return AM.el("td", { class: "phase" },
      AM.el("span", { class: "phase-steps", "aria-label": `phase ${s.phase || "unknown"}` },
        phases.map((p, i) => AM.el("i", { class: i < at ? "done" : i === at ? "now" : "" }))),
      AM.el("span", { text: s.ended_at ? "ended" : s.phase || "–" }));
  }

  function alertBadge(a) {
    const acked = a.acks && a.acks.length;
    return AM.el("span", {
      class: `badge sev-${a.severity}${acked ? " acked" : ""}${AM.showUnvalidated(a) ? " unvalidated" : ""}`,
      title: a.message || "",
    },
      AM.alertLabel(a),
      AM.showUnvalidated(a) ? AM.el("em", { class: "unval", text: AM.unvalidatedText(a) }) : null,
      acked ? AM.el("span", { class: "ackby", text: `✓ ${a.acks.map((x) => x.by).join(", ")}` }) : null);
  }

  function render() {
    const rows = sorted().map((s) => {
      const alerts = (s.alerts || []).filter((a) => a.kind !== "recovered").slice(-3).reverse();
      const ruptures = (s.ruptures || []).slice(-2).reverse();
      const flags = (s.signal && s.signal.flags) || [];
      const el = s.started_at ? elapsedSeconds(s) : null;
      const planned = s.planned_minutes ? ` / ${s.planned_minutes}m` : "";
      return AM.el("tr", {
        class: `row${s.session_id === openSession ? " open" : ""}${s.ended_at ? " ended" : ""}`,
        "data-session": s.session_id, tabindex: 0,
        onclick: () => openDrawer(s.session_id),
        onkeydown: (e) => e.key === "Enter" && openDrawer(s.session_id),
      },
        AM.el("td", { class: "risk" }, AM.el("span", { class: `riskpill r${Math.min(3, Math.floor(s.risk / 30))}`,
          title: "from validated signals only", text: Math.round(s.risk) }),
          // what unvalidated signals would add: shown, marked, never part of the sort
          s.risk_unvalidated >= 1 ? AM.el("span", { class: "risk-unval unval", "data-risk-unvalidated": Math.round(s.risk_unvalidated),
            title: "from unvalidated signals (a model or rule without a passing record on this site); not used to sort",
            text: `+${Math.round(s.risk_unvalidated)} unvalidated` }) : null),
        AM.el("td", { class: "sid", text: s.session_id }),
        AM.el("td", { class: "col-counselor", text: s.counselor_id || "–" }),
        AM.el("td", { class: "elapsed", "data-started": s.started_at || "", text: AM.fmtClock(el) + planned }),
        phaseCell(s),
        DIMS.map((d) => scoreCell(s, d)),
        AM.el("td", { class: "flags col-signals" }, flags.length ? flags.map((f) => {
          // a flag whose rule has no passing record on this site is marked, like an unvalidated score
          const gate = (s.signal_gate || {})[f];
          const unval = gate === "unvalidated" || gate === "opened";
          return AM.el("span", { class: `chip${unval ? " unvalidated" : ""}`, "data-gate": gate || null,
            title: unval ? "this rule has no passing validation record on this site" : null },
            f.replace(/_/g, " "), unval ? AM.el("em", { class: "unval", text: "unvalidated" }) : null);
        }) : AM.el("span", { class: "muted", text: "–" })),
        AM.el("td", { class: "alerts" }, alerts.length || ruptures.length
          ? [ruptures.map(AM.rupture.chip), alerts.map(alertBadge)] : AM.el("span", { class: "muted", text: "–" })),
      );
    });
    $("rows").replaceChildren(...rows);
    $("empty").hidden = sessions.size > 0;
    const all = [...sessions.values()];
    const unacked = all.reduce((n, s) => n + (s.unacked || 0), 0);
    const opened = [...new Set(all.flatMap((s) => s.opened_detectors || []))];
    renderDetectors(all);
    $("summary").replaceChildren(...[
      opened.length ? AM.el("div", { class: "kpi opened-detectors", "data-opened": opened.join(" "),
        title: "these rules reach counselors by the site's setting, before any validation record passed",
        text: `Opened to counselors by setting (unvalidated): ${opened.join(", ")}` }) : null,
      AM.el("div", { class: "kpi" }, AM.el("b", { text: all.filter((s) => !s.ended_at).length }), " live sessions"),
      AM.el("div", { class: `kpi${unacked ? " hot" : ""}` }, AM.el("b", { text: unacked }), " unacknowledged alerts"),
      AM.el("div", { class: "kpi falling" }, AM.el("b", { text: all.filter((s) => s.falling).length }), " with falling goal or bond",
        (() => {
          const unval = all.filter((s) => !s.falling && s.falling_unvalidated).length;
          return unval ? AM.el("span", { class: "unval", "data-falling-unvalidated": unval, text: ` (+${unval} by an unvalidated model)` }) : null;
        })())].filter(Boolean));
  }

  /* The detector table: every detector any summary names (the rule detectors, and each trained detector a
   * scorer serves in feedback cards), one row per code with its state. */
  function renderDetectors(all) {
    const byKey = new Map();
    for (const s of all) for (const d of s.detectors || []) if (!byKey.has(d.detector)) byKey.set(d.detector, d);
    const box = $("detectors");
    box.hidden = byKey.size === 0;
    const label = { validated: "validated", opened: "opened by setting (unvalidated)", unvalidated: "unvalidated" };
    const rows = [];
    let ok = 0;
    for (const d of byKey.values()) {
      for (const [code, state] of Object.entries(d.codes || {})) {
        if (state === "validated") ok += 1;
        rows.push(AM.el("tr", { "data-detector": d.detector, "data-kind": d.kind, "data-code": code, "data-status": state },
          AM.el("td", { class: "det-key", title: d.summary || "", text: d.detector }),
          AM.el("td", { text: d.kind === "trained" ? "trained on this site's codes" : "rules" }),
          AM.el("td", { text: code.replace(/_/g, " ") }),
          AM.el("td", {}, AM.el("span", { class: `chip det-${state}${state === "validated" ? "" : " unvalidated"}`,
            text: label[state] || state })),
          AM.el("td", { class: "muted det-identity", text: d.identity })));
      }
    }
    $("detectors-title").textContent = `Detectors: ${ok} of ${rows.length} codes validated on this site`;
    $("detector-rows").replaceChildren(...rows);
  }

  function requestTimeline(sid) {
    client.send({ type: "timeline", session_id: sid });
  }

  function openDrawer(sid) {
    openSession = sid;
    timeline = null;
    requestTimeline(sid);
    renderDrawer();
    render();
  }

  function closeDrawer() {
    openSession = null;
    $("drawer").hidden = true;
    document.body.classList.remove("drawer-open");
    render();
  }

  function ack(alertId) {
    client.send({ type: "ack", alert_id: alertId });
  }

  function evidenceList(evidence) {
    return AM.el("ul", { class: "evidence" }, (evidence || []).map((e) =>
      AM.el("li", {},
        AM.el("div", {},
          e.item_id ? AM.el("b", { text: `${e.item_id} ` }) : null,
          typeof e.previous === "number" ? `${AM.fmtScore(e.previous)} → ${AM.fmtScore(e.current)} ` : "",
          e.rationale || e.note || ""),
        AM.verifiedQuotes(e.quotes).map((q) => AM.el("blockquote", { text: q.text })))));
  }

  function alertCard(a) {
    const acks = a.acks || [];
    return AM.el("div", { class: `alert-card sev-${a.severity}`, "data-alert": a.alert_id },
      AM.el("div", { class: "alert-head" },
        AM.el("span", { class: `badge sev-${a.severity}`, text: `${a.severity} · ${AM.alertLabel(a)}` }),
        !AM.showUnvalidated(a) ? null : AM.el("span", { class: "badge unvalidated-tag", title: a.gate === "opened"
          ? "no passing validation record; the site opened this rule to counselors by setting"
          : `${AM.isModelAlert(a) ? "the model" : "this rule"} has no passing validation record; counselors do not see this alert`, text: AM.unvalidatedText(a) }),
        AM.el("span", { class: "muted", text: ` ${a.phase} phase` })),
      AM.el("p", { text: a.message || "" }),
      // a process note: what was seen (the message) and the one move that fits it
      AM.isModelAlert(a) ? evidenceList(a.evidence)
        : (a.evidence || []).filter((e) => e.note).slice(0, 1).map((e) => AM.el("p", { class: "hint", text: e.note })),
      AM.el("div", { class: "ack-row" },
        acks.length
          ? AM.el("span", { class: "acked-by", text: `Acknowledged by ${acks.map((x) => x.by).join(", ")}` })
          : AM.el("span", { class: "muted", text: "Not acknowledged yet" }),
        AM.el("button", { class: "btn ack", type: "button", "data-ack": a.alert_id, onclick: (e) => { e.stopPropagation(); ack(a.alert_id); }, text: acks.length ? "Acknowledge too" : "Acknowledge" })));
  }

  function phaseBlock(score, summary) {
    const items = score.items || [];
    return AM.el("section", { class: "phase-block" },
      AM.el("h4", {}, AM.el("span", { class: "cap", text: `${score.phase} phase` }),
        AM.el("span", { class: "muted", text: ` · up to turn ${score.upto_turn_id} · ${score.model ? score.model.name : ""}` })),
      AM.el("div", { class: "dims" }, DIMS.map((d) => {
        const v = score.dimensions && score.dimensions[d] ? score.dimensions[d].score : undefined;
        const unval = unvalidated(summary, d);
        return AM.el("div", { class: `dim ${AM.level(v)}${unval ? " unvalidated" : ""}` }, AM.el("span", { text: d }),
          AM.el("b", { text: AM.fmtScore(v) }), unval ? AM.el("em", { class: "unval", text: "unvalidated" }) : null);
      })),
      AM.el("details", {},
        AM.el("summary", { text: "Item rationales with quotes" }),
        AM.el("ul", { class: "items" }, items.map((it) =>
          AM.el("li", {},
            AM.el("b", { text: `${it.item_id} (${it.dimension}) ${AM.fmtScore(it.expected)}` }),
            it.rationale ? AM.el("p", { text: it.rationale }) : null,
            AM.verifiedQuotes(it.quotes).map((q) => AM.el("blockquote", { text: q.text })))))));
  }

  function renderDrawer() {
    const d = $("drawer");
    const s = sessions.get(openSession);
    if (!openSession || !s) {
      d.hidden = true;
      document.body.classList.remove("drawer-open");
      return;
    }
    d.hidden = false;
    const scores = [];
    if (timeline) {
      const byPhase = {};
      for (const e of timeline.events) if (e.kind === "score") byPhase[e.data.phase] = e.data;
      for (const p of ["early", "middle", "late"]) if (byPhase[p]) scores.push(byPhase[p]);
    }
    const alerts = (s.alerts || []).slice().reverse();
    const sig = s.signal || {};
    document.body.classList.add("drawer-open");
    d.replaceChildren(...[
      AM.el("div", { class: "drawer-head" },
        AM.el("div", {}, AM.el("h3", { text: s.session_id }),
          AM.el("div", { class: "muted", text: `counselor ${s.counselor_id || "–"} · group ${s.group || "–"} · ${s.ended_at ? "ended" : (s.phase || "–") + " phase"}` }),
          AM.el("div", {}, AM.sessionLink(s.session_id))),
        AM.el("button", { class: "btn close", type: "button", "aria-label": "close", onclick: closeDrawer, text: "×" })),
      AM.el("h4", { class: "section", text: "Alerts" }),
      alerts.length ? alerts.map(alertCard) : AM.el("p", { class: "muted", text: "No alerts." }),
      AM.el("h4", { class: "section", text: "Rupture episodes" }),
      (s.ruptures || []).length ? [AM.rupture.strip(s, s.ruptures, client.now()),
        s.ruptures.slice().reverse().map((e) => AM.rupture.card(e, s.feedback))]
        : AM.el("p", { class: "muted", text: "No rupture episode." }),
      (s.feedback || []).length ? [AM.el("h4", { class: "section", text: "Counselor turns (turn-level feedback)" }),
        s.feedback.slice(-4).reverse().map(AM.feedback.card)] : null,
      AM.el("h4", { class: "section", text: "Process signals" }),
      AM.el("dl", { class: "signals" },
        [["client reply length vs own baseline", sig.client_length_ratio, (v) => `${Math.round(v * 100)}%`],
         ["client reply latency", sig.client_latency_s, (v) => `${Math.round(v)} s`],
         ["client idle", sig.client_idle_s, (v) => `${Math.round(v)} s`],
         ["question streak", sig.question_streak, (v) => `${v}`],
         ["directive density", sig.directive_density, (v) => `${Math.round(v * 100)}%`],
         ["minimal responses", sig.minimal_response_rate, (v) => `${Math.round(v * 100)}%`]].map(([k, v, f]) =>
          [AM.el("dt", { text: k }), AM.el("dd", { text: v === null || v === undefined ? "–" : f(v) })])),
      AM.el("h4", { class: "section", text: "Phase timeline" }),
      timeline ? (scores.length ? scores.map((sc) => phaseBlock(sc, s)) : AM.el("p", { class: "muted", text: "No phase scored yet." }))
        : AM.el("p", { class: "muted", text: "loading…" })].flat(3).filter((x) => x !== null && x !== undefined));
  }

  $("sort").addEventListener("change", render);
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeDrawer());
  setInterval(() => {
    for (const td of document.querySelectorAll("td.elapsed")) {
      const s = sessions.get(td.parentElement.dataset.session);
      if (s && !s.ended_at && s.started_at) td.textContent = AM.fmtClock(elapsedSeconds(s)) + (s.planned_minutes ? ` / ${s.planned_minutes}m` : "");
    }
  }, 1000);

  const token = AM.takeToken();
  if (token) client.start(token);
  else AM.tokenBox($("main"), () => location.reload());
})();
