/* After the session: one session's phase trajectory, its rupture episodes and the
 * rated counselor turns grouped as "helped" / "hurt" by principle. Opened as
 * /session?id=SESSION#token=… from the counselor panel or the board's drawer.
 *
 * It renders only what the gateway's `timeline` answer holds, and the gateway already
 * left out what this viewer may not see: a counselor gets no number of a dimension the
 * model is not validated for (the score says which were `withheld`), no model-only
 * episode of an unvalidated model and no unvalidated turn-level feedback. A supervisor
 * gets everything, and the page marks what counselors do not see as "unvalidated".
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const sid = new URLSearchParams(location.search).get("id");
  const DIMS = ["goal", "approach", "bond"];
  const PHASES = ["early", "middle", "late"];
  const WORD = { goal: "Goals", approach: "Way of working", bond: "Connection" };
  const COLOR = { goal: "#2f6fde", approach: "#b7791f", bond: "#7e57c2" };
  // a turn with no poor-alliance pattern "helped" when one principle is rated at least this (1-5)
  const HELPED_MIN = 3.5;
  let viewer = null;
  let summary = null; // this session's summary from the snapshot / events
  let timeline = null; // the last timeline answer
  let refused = null; // the gateway's forbidden message

  const client = new AM.Client({
    status: AM.showStatus,
    welcome(msg) {
      viewer = msg.viewer;
      $("who").textContent = viewer.name || viewer.role;
    },
    snapshot(list) {
      summary = list.find((s) => s.session_id === sid) || null;
      client.send({ type: "timeline", session_id: sid });
    },
    event(msg) {
      if (msg.session_id !== sid) return;
      if (msg.summary) summary = msg.summary;
      if (msg.kind !== "signal") refresh();
    },
    timeline(msg) {
      if (msg.session_id !== sid) return;
      timeline = msg;
      refused = null;
      render();
    },
    error(msg) {
      if (msg.code === "forbidden") {
        refused = msg.message;
        timeline = null;
        render();
      } else AM.notice(msg.message || "request refused");
    },
    notice: AM.notice,
    authFailed(reason) {
      sessionStorage.removeItem("am-token");
      AM.tokenBox($("main"), () => location.reload(), reason);
    },
  });

  /* a burst of events (a phase end brings a score, alerts, feedback) asks for one timeline, not one each:
   * every timeline request costs the gateway work and counts against the message rate */
  let pending = null;
  function refresh() {
    clearTimeout(pending);
    pending = setTimeout(() => client.send({ type: "timeline", session_id: sid }), 300);
  }

  const counselor = () => !!viewer && viewer.role === "counselor";
  const section = (title, ...body) => AM.el("section", { class: "report-section" }, AM.el("h3", { text: title }), body);
  const empty = (key, text) => AM.el("p", { class: "empty-state", "data-empty": key, text });

  /* the newest record per id: episodes by version, feedback and scores by arrival */
  function collect(events) {
    const scores = {}, episodes = new Map(), feedback = new Map();
    for (const e of events) {
      if (e.kind === "score") scores[e.data.phase] = e.data;
      else if (e.kind === "rupture") {
        const known = episodes.get(e.data.episode_id);
        if (!known || (e.data.version || 0) > (known.version || 0)) episodes.set(e.data.episode_id, e.data);
      } else if (e.kind === "feedback") feedback.set(e.data.feedback_id, e.data);
    }
    return { scores, episodes: [...episodes.values()], feedback: [...feedback.values()].sort((a, b) => a.turn_id - b.turn_id) };
  }

  // -- phase trajectory --------------------------------------------------------------
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    for (const c of children.flat(Infinity)) if (c) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function chart(series) {
    const W = 560, H = 210, L = 34, R = 44, T = 12, B = 28;
    const x = (i) => L + ((W - L - R) * i) / (PHASES.length - 1);
    const y = (v) => T + ((5 - v) / 4) * (H - T - B);
    return svg("svg", { class: "trajectory", viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": "scores per phase, 1 to 5" },
      [1, 2, 3, 4, 5].map((v) => [svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }),
        svg("text", { x: L - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, String(v))]),
      PHASES.map((p, i) => svg("text", { x: x(i), y: H - 8, class: "tick", "text-anchor": "middle" }, `${p} phase`)),
      series.map(({ dim, points, unvalidated }) => {
        const pts = points.filter((pt) => typeof pt.v === "number");
        return svg("g", { class: `series${unvalidated ? " unvalidated" : ""}`, "data-dim": dim },
          pts.length > 1 ? svg("polyline", { points: pts.map((pt) => `${x(pt.i)},${y(pt.v)}`).join(" "), fill: "none",
            stroke: COLOR[dim], "stroke-width": 2.5, "stroke-dasharray": unvalidated ? "6 4" : null }) : null,
          pts.map((pt) => svg("circle", { cx: x(pt.i), cy: y(pt.v), r: 4.5, fill: COLOR[dim], "data-dim": dim,
            "data-phase": PHASES[pt.i], "data-value": pt.v.toFixed(2) },
          svg("title", {}, `${WORD[dim]}, ${PHASES[pt.i]} phase: ${AM.fmtScore(pt.v)}`))));
      }));
  }

  function trajectory(scores) {
    const scored = PHASES.filter((p) => scores[p]);
    if (!scored.length) {
      return section("Phase trajectory", empty("scores", "No phase of this session was scored: the scorer sends one estimate at the end of each phase (early, middle, late), and none has arrived for this session."));
    }
    const withheld = new Set([...scored.flatMap((p) => scores[p].withheld || []),
      ...(counselor() && summary && summary.validation ? summary.validation.withheld || [] : [])]);
    const unvalidated = new Set(!counselor() && summary && summary.validation ? summary.validation.unvalidated || [] : []);
    const series = DIMS.filter((d) => !withheld.has(d)).map((dim) => ({
      dim, unvalidated: unvalidated.has(dim),
      points: PHASES.map((p, i) => {
        const s = scores[p] && scores[p].dimensions && scores[p].dimensions[dim];
        return { i, v: s ? s.score : undefined };
      }),
    })).filter((s) => s.points.some((pt) => typeof pt.v === "number"));
    const held = DIMS.filter((d) => withheld.has(d)).map((d, i) => (i ? WORD[d].toLowerCase() : WORD[d]));
    return section("Phase trajectory",
      AM.el("p", { class: "muted small", text: "Estimates of how the client may have experienced each phase (1–5). Not a verdict." }),
      series.length ? [chart(series), AM.el("table", { class: "trajectory-table" },
        AM.el("thead", {}, AM.el("tr", {}, AM.el("th", { text: "" }), PHASES.map((p) => AM.el("th", { text: p })))),
        AM.el("tbody", {}, series.map((s) => AM.el("tr", { "data-dim": s.dim },
          AM.el("th", {}, AM.el("i", { class: `swatch dim-${s.dim}` }), WORD[s.dim],
            s.unvalidated ? AM.el("span", { class: "unvalidated-tag", title: "the model is not validated for this dimension; counselors do not see it", text: "unvalidated" }) : null),
          s.points.map((pt) => AM.el("td", { text: AM.fmtScore(pt.v) }))))))]
        : empty("dimensions", "No dimension of this session can be shown to you yet."),
      held.length ? AM.el("p", { class: "validation-mode", "data-withheld": [...withheld].sort().join(" "),
        text: `${held.length > 1 ? `${held.slice(0, -1).join(", ")} and ${held[held.length - 1]}` : held[0]}: withheld until the model is validated against this site's client ratings; your supervisor sees these estimates for now.` }) : null);
  }

  // -- rupture episodes ------------------------------------------------------------
  function episodes(list) {
    return section("Rupture episodes",
      list.length ? list.map((e) => AM.rupture.card(e, null))
        : empty("episodes", counselor()
          ? "No rupture episode was found: no client turn showed a withdrawal or confrontation marker (episodes opened only by an unvalidated model's estimate are not shown to counselors)."
          : "No rupture episode was found: no client turn showed a withdrawal or confrontation marker and no drop alert opened one."));
  }

  // -- rated counselor turns -------------------------------------------------------
  /* "hurt": the turn shows a poor-alliance pattern; "helped": no pattern and a principle
   * rated HELPED_MIN or more; otherwise "mixed". Grouped by the principle that decides it. */
  function classify(f) {
    const ranked = Object.entries(f.principles || {}).sort((a, b) => b[1] - a[1]);
    if (f.pattern) return { group: "hurt", principle: f.principle };
    if (ranked.length && ranked[0][1] >= HELPED_MIN) return { group: "helped", principle: ranked[0][0] };
    return { group: "mixed", principle: f.principle };
  }

  function ratings(f, order) {
    const list = Object.entries(f.principles || {}).sort((a, b) => order * (a[1] - b[1]));
    return AM.el("p", { class: "muted small ratings" }, list.map(([k, v]) =>
      `${AM.feedback.PRINCIPLE[k] || k} ${AM.fmtScore(v)}`).join(" · "));
  }

  function turnCard(f, group) {
    return AM.el("div", { class: `feedback-card turn-${group}`, "data-feedback": f.feedback_id, "data-turn": f.turn_id },
      AM.el("div", { class: "alert-head" },
        AM.el("b", { text: `turn ${f.turn_id}` }),
        AM.el("span", { class: "muted", text: ` ${f.phase} phase ` }),
        f.pattern ? AM.el("span", { class: "badge pattern", text: `${AM.feedback.PATTERN[f.pattern]} (${f.pattern_source})` }) : null,
        f.validated ? null : AM.el("span", { class: "badge unvalidated-tag", title: "turn-level measures are not validated on this site; counselors do not see this", text: "unvalidated" })),
      /* quote and next move are text under the store's retention: an old session's are blanked */
      f.quote ? AM.el("blockquote", { text: f.quote })
        : AM.el("p", { class: "muted", "data-retention": "", text: "The quoted turn was removed after the retention period." }),
      group === "helped" || !f.next_move ? null : AM.el("p", {}, AM.el("b", { text: "Next move: " }), f.next_move),
      ratings(f, group === "helped" ? -1 : 1));
  }

  function turns(list) {
    const head = counselor() ? "Your turns: what helped, what hurt" : "Counselor turns: what helped, what hurt";
    if (!list.length) {
      return section(head, empty("feedback", counselor()
        ? "No rated turn to show you. Turn-level feedback reaches counselors only once it has been validated against this site's own human codes; until then it goes to your supervisor. (It may also be switched off: no turn was rated.)"
        : "No counselor turn of this session was rated: turn-level feedback is off (ALLIANCE_FEEDBACK_TURNS=0) or no phase reached its end."));
    }
    const groups = { hurt: new Map(), helped: new Map(), mixed: new Map() };
    for (const f of list) {
      const c = classify(f);
      if (!groups[c.group].has(c.principle)) groups[c.group].set(c.principle, []);
      groups[c.group].get(c.principle).push(f);
    }
    const TITLE = { helped: "Helped", hurt: "Hurt", mixed: "Neither clearly" };
    const NOTE = {
      helped: `no poor-alliance pattern and a principle rated ${HELPED_MIN} or more, by its best principle`,
      hurt: "a poor-alliance pattern, by the principle to work on",
      mixed: "no pattern, no principle rated high",
    };
    return section(head,
      counselor() ? null : AM.el("p", { class: "muted small", text: "Turns marked unvalidated are not shown to the counselor." }),
      ["hurt", "helped", "mixed"].filter((g) => groups[g].size).map((g) =>
        AM.el("div", { class: `turn-group group-${g}`, "data-group": g },
          AM.el("h4", {}, TITLE[g], AM.el("span", { class: "muted", text: ` · ${NOTE[g]}` })),
          [...groups[g].entries()].map(([principle, fs]) => AM.el("div", { class: "principle", "data-principle": principle },
            AM.el("h5", { text: AM.feedback.PRINCIPLE[principle] || principle }),
            fs.map((f) => turnCard(f, g)))))));
  }

  // -- page --------------------------------------------------------------------------
  function head() {
    const s = summary || {};
    const bits = [s.counselor_id && !counselor() ? `counselor ${s.counselor_id}` : null, s.group ? `group ${s.group}` : null,
      s.started_at ? `started ${s.started_at.replace("T", " ").slice(0, 16)} UTC` : null,
      s.ended_at ? "ended" : s.phase ? `still running (${s.phase} phase)` : null].filter(Boolean);
    return AM.el("div", { class: "report-head" }, AM.el("h2", { text: sid }), AM.el("p", { class: "muted", text: bits.join(" · ") }));
  }

  function render() {
    const main = $("main");
    if (refused) {
      main.replaceChildren(AM.el("p", { class: "warn forbidden", "data-forbidden": "1",
        text: `Session ${sid} is not visible to you: it belongs to another counselor, is outside your supervision groups, or the gateway no longer holds it (it forgets a session some minutes after its end).` }));
      return;
    }
    if (!timeline) return;
    const data = collect(timeline.events || []);
    main.replaceChildren(head(), trajectory(data.scores), episodes(data.episodes), turns(data.feedback));
  }

  const token = AM.takeToken();
  if (!sid) {
    $("main").replaceChildren(empty("session", "No session chosen: open this page from the session panel or the board (it needs ?id=SESSION in its address)."));
    AM.showStatus("down", "no session");
  } else if (token) client.start(token);
  else AM.tokenBox($("main"), () => location.reload());
})();
