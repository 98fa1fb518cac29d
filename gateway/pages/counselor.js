/* Counselor panel: the current session's three scores and its alerts, worded
 * for someone in the middle of a chat — short, concrete, calm. The gateway only
 * sends this counselor's own sessions and, by default, only validated model
 * output: a dimension the model is not validated for arrives without a number
 * (summary.validation.withheld) and is shown as "validation mode". */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const sessions = new Map();
  let chosen = new URLSearchParams(location.search).get("session");

  const WORD = { goal: "Goals", approach: "Way of working", bond: "Connection" };
  const HINT = {
    goal: "Check you still agree on what to work on — e.g. ask what matters most to them right now.",
    approach: "Check the way of working fits — e.g. ask how this conversation is going for them.",
    bond: "They may feel less understood. Try reflecting what they just said before asking more.",
    process: "The rhythm of the chat changed. A short check-in can help (\"How is this going for you?\").",
  };
  const TONE = { info: "Note", warning: "Worth a look", critical: "Needs attention now" };

  const client = new AM.Client({
    status: AM.showStatus,
    snapshot(list) {
      sessions.clear();
      for (const s of list) sessions.set(s.session_id, s);
      render();
    },
    event(msg) {
      if (msg.summary) sessions.set(msg.session_id, msg.summary);
      render();
    },
    notice(text) {
      const n = $("notice");
      n.textContent = text;
      n.hidden = false;
      setTimeout(() => (n.hidden = true), 6000);
    },
    authFailed(reason) {
      sessionStorage.removeItem("am-token");
      AM.tokenBox($("main"), () => location.reload(), reason);
    },
  });

  function current() {
    if (chosen && sessions.has(chosen)) return sessions.get(chosen);
    const live = [...sessions.values()].filter((s) => !s.ended_at);
    live.sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
    return live[0] || [...sessions.values()][0];
  }

  function describe(dim, v, d) {
    if (typeof v !== "number") return "not estimated yet";
    const level = v < 2.5 ? "low" : v < 3.5 ? "mixed" : v < 4.2 ? "good" : "strong";
    if (typeof d === "number" && d <= -0.3) return `${level}, lower than in the previous phase`;
    if (typeof d === "number" && d >= 0.3) return `${level}, higher than in the previous phase`;
    return level;
  }

  /* a process note carries its own move, fitted to its signal (streams/signal_notes.py) */
  function moveFor(a) {
    const own = a.kind === "process" && a.evidence && a.evidence[0] && a.evidence[0].note;
    return own || HINT[a.dimension] || HINT.process;
  }

  function alertCard(a) {
    const quotes = (a.evidence || []).flatMap((e) => AM.verifiedQuotes(e.quotes)).slice(0, 2);
    return AM.el("article", { class: `c-alert sev-${a.severity}`, "data-alert": a.alert_id },
      AM.el("header", {},
        AM.el("span", { class: "tone", text: a.kind === "recovered" ? "Improved" : TONE[a.severity] || "Note" }),
        AM.el("span", { class: "muted", text: ` · ${WORD[a.dimension] || "Chat rhythm"}` }),
        AM.showUnvalidated(a) ? AM.el("span", { class: "badge unvalidated-tag", text: "unvalidated" }) : null),
      AM.el("p", { class: "what", text: a.message || "" }),
      a.kind === "recovered" ? null : AM.el("p", { class: "hint", text: moveFor(a) }),
      quotes.length ? AM.el("div", { class: "quotes" }, AM.el("span", { class: "muted", text: "From the chat:" }),
        quotes.map((q) => AM.el("blockquote", { text: q.text }))) : null,
      a.acks && a.acks.length ? AM.el("p", { class: "muted", text: `Seen by ${a.acks.map((x) => x.by).join(", ")}` }) : null);
  }

  function validationText(withheld, alertsHeld) {
    const names = ["goal", "approach", "bond"].filter((d) => withheld.includes(d)).map((d) => WORD[d].toLowerCase());
    const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
    const parts = [names.length ? `its estimates of ${list}` : null, alertsHeld ? "its alerts" : null].filter(Boolean);
    return `Validation mode: the model behind these estimates has not yet been checked against this site's client ratings, so ${parts.join(", and ")} go to your supervisor for now.`;
  }

  function render() {
    const s = current();
    const main = $("main");
    if (!s) {
      main.replaceChildren(AM.el("p", { class: "empty", text: "No live session of yours yet. This panel fills in when your session starts." }));
      return;
    }
    const alerts = (s.alerts || []).slice().reverse().slice(0, 4);
    const withheld = (s.validation && s.validation.withheld) || [];
    const openEpisodes = (s.ruptures || []).filter((e) => !e.closed).slice(-1);
    const repaired = (s.ruptures || []).filter((e) => e.status === "repaired").slice(-1);
    const unrepaired = s.ended_at ? (s.ruptures || []).filter((e) => e.status === "unrepaired").slice(-1) : [];
    main.replaceChildren(...[
      AM.el("div", { class: "c-head" },
        AM.el("div", {}, AM.el("b", { text: s.session_id }), AM.el("span", { class: "muted", text: ` · ${s.ended_at ? "ended" : (s.phase || "early") + " phase"} · ` }),
          AM.sessionLink(s.session_id)),
        sessions.size > 1 ? AM.el("select", { "aria-label": "session", onchange: (e) => { chosen = e.target.value; render(); } },
          [...sessions.keys()].map((id) => AM.el("option", { value: id, selected: id === s.session_id, text: id }))) : null),
      AM.el("div", { class: "c-scores" }, ["goal", "approach", "bond"].map((d) => {
        if (withheld.includes(d)) {
          // the gateway sends no number for a dimension the model is not validated for
          return AM.el("div", { class: "c-score withheld", "data-dim": d, "data-withheld": "1" },
            AM.el("div", { class: "label", text: WORD[d] }),
            AM.el("div", { class: "big validating", text: "validation mode" }),
            AM.el("div", { class: "muted small", text: "no estimate shown until the model is checked on this site's client ratings" }));
        }
        const v = s.current ? s.current[d] : undefined;
        const ch = s.change ? s.change[d] : undefined;
        return AM.el("div", { class: `c-score ${AM.level(v)}`, "data-dim": d },
          AM.el("div", { class: "label", text: WORD[d] }),
          AM.el("div", { class: "big", text: AM.fmtScore(v) }),
          AM.el("div", { class: "bar" }, AM.el("i", { style: typeof v === "number" ? `width:${((v - 1) / 4) * 100}%` : "width:0" })),
          AM.el("div", { class: "muted small", text: describe(d, v, ch) }));
      })),
      AM.el("p", { class: "muted small", text: "Estimates of how the client may be experiencing the session (1–5), updated at each phase. Not a verdict." }),
      s.validation && (s.validation.mode || withheld.length) ? AM.el("p", { class: "validation-mode", "data-validation-mode": "1",
        text: validationText(withheld, s.validation.mode) }) : null,
      (s.rules_withheld || []).length ? AM.el("p", { class: "validation-mode muted small", "data-rules-withheld": s.rules_withheld.join(" "),
        text: "Notes from the chat-rhythm and rupture-marker rules have not yet been checked against this site's own coding, so they go to your supervisor for now." }) : null,
      openEpisodes.map((e) => AM.rupture.counselorCard(e, s.feedback)),
      !openEpisodes.length && repaired.length ? AM.el("p", { class: "calm repaired", "data-episode": repaired[0].episode_id,
        text: `The rupture from turn ${repaired[0].opened_turn_id} looks repaired: the client re-engaged after you addressed it.` }) : null,
      // after the session: an episode that stayed open is worth taking into the next one
      !openEpisodes.length && unrepaired.length ? AM.el("p", { class: "calm unrepaired", "data-episode": unrepaired[0].episode_id,
        text: `The ${(AM.rupture.KIND[unrepaired[0].kind] || "").toLowerCase()} rupture from turn ${unrepaired[0].opened_turn_id} was not repaired before the session ended: worth coming back to next time.` }) : null,
      alerts.length ? alerts.map(alertCard) : openEpisodes.length ? null : AM.el("p", { class: "calm", text: "Nothing needs your attention right now." })].flat(2).filter((x) => x !== null && x !== undefined));
  }

  const token = AM.takeToken();
  if (token) client.start(token);
  else AM.tokenBox($("main"), () => location.reload());
})();
