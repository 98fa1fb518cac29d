/* Rupture episodes on both pages: the words, a chip, a card and the session
 * timeline strip. Only renders what the gateway sent: it already left out what
 * this viewer may not see (model-only episodes of an unvalidated model for
 * counselors, and the unvalidated model drop inside a marker episode). */
"use strict";

AM.rupture = (function () {
  const KIND = {
    withdrawal: "Withdrawal",
    confrontation: "Confrontation",
    mixed: "Mixed",
    untyped: "Model drop",
  };
  const FOR_COUNSELOR = {
    withdrawal: "The client may be pulling back: short or non-committal replies.",
    confrontation: "The client is pushing back on you or on the way you are working.",
    mixed: "The client pushed back, then went quiet.",
    untyped: "The estimate of the connection fell; the chat shows no clear marker yet.",
  };
  const STATUS = { open: "open", repair_attempted: "repair attempted", repaired: "repaired", unrepaired: "unrepaired" };
  const CUE = {
    minimal: "minimal reply", empty_agreement: "hedged agreement", deflecting: "deflecting", topic_change: "topic change",
    short_reply: "much shorter reply", acknowledgement: "only short acknowledgements", disagreement: "rejects a suggestion", criticism: "criticises the session",
    meta_communication: "talks about the conversation", acknowledging: "acknowledges", inviting_disagreement: "invites disagreement",
    changing_course: "changes course", trained: "flagged by the site's trained detector",
  };
  const modelOnly = (e) => !(e.sources || []).includes("markers");
  // the gateway labels each episode: markers count only once the detector that answered them passed on this site
  const unvalidated = (e) => (e.gate ? e.gate !== "validated" : modelOnly(e) && !e.validated);

  function chip(e) {
    return AM.el("span", {
      class: `rupture-chip kind-${e.kind} st-${e.status}`, "data-episode": e.episode_id,
      title: `${KIND[e.kind] || e.kind} rupture, ${STATUS[e.status] || e.status}`,
    }, `${KIND[e.kind] || e.kind} · ${STATUS[e.status] || e.status}`,
      unvalidated(e) ? AM.el("em", { class: "unval", text: AM.unvalidatedText(e) }) : null);
  }

  function turns(list) {
    return (list || []).map((m) => `turn ${m.turn_id} (${CUE[m.cue] || m.cue})`).join(", ");
  }

  /* supervisor card: everything about the episode */
  function card(e, feedback) {
    const drop = e.model_drop;
    return AM.el("div", { class: `rupture-card kind-${e.kind} st-${e.status}`, "data-episode": e.episode_id },
      AM.el("div", { class: "alert-head" }, chip(e),
        AM.el("span", { class: "muted", text: ` opened in the ${e.phase} phase at turn ${e.opened_turn_id}` })),
      e.markers && e.markers.length ? AM.el("p", {}, AM.el("b", { text: "Client markers: " }), turns(e.markers)) : null,
      e.repair_moves && e.repair_moves.length ? AM.el("p", {}, AM.el("b", { text: "Counselor repair moves: " }), turns(e.repair_moves)) : null,
      typeof e.reengaged_turn_id === "number" ? AM.el("p", { text: `Client re-engaged at turn ${e.reengaged_turn_id}.` }) : null,
      drop ? AM.el("p", { class: "muted", text: `Model: ${drop.dimension} ${AM.fmtScore(drop.previous)} → ${AM.fmtScore(drop.current)} (${drop.phase})${drop.validated ? "" : " · unvalidated: counselors do not see this part"}` }) : null,
      (e.flags || []).length ? AM.el("p", { class: "muted", text: `Process flags when it opened: ${e.flags.join(", ").replace(/_/g, " ")}` }) : null,
      e.suggestion ? AM.el("p", { class: "hint", text: e.suggestion }) : null,
      !e.closed && AM.feedback ? AM.feedback.line(feedback) : null);
  }

  /* the session timeline: one bar per episode from opening to closing (or now) */
  function strip(session, episodes, nowMs) {
    const start = Date.parse(session.started_at || "");
    if (!episodes.length || !start) return null;
    const planned = (session.planned_minutes || 50) * 60000;
    const end = Math.max(start + planned, ...episodes.map((e) => Date.parse(e.closed_at || "") || nowMs));
    const pos = (t) => `${Math.max(0, Math.min(100, ((t - start) / (end - start)) * 100)).toFixed(2)}%`;
    return AM.el("div", { class: "rupture-strip", "aria-label": "rupture episodes on the session timeline" },
      [1, 2].map((i) => AM.el("i", { class: "boundary", style: `left:${pos(start + (planned * i) / 3)}` })),
      episodes.map((e) => {
        const a = Date.parse(e.opened_at);
        const b = Date.parse(e.closed_at || "") || nowMs;
        return AM.el("span", {
          class: `span kind-${e.kind} st-${e.status}`, "data-episode": e.episode_id,
          style: `left:${pos(a)};width:max(6px, calc(${pos(b)} - ${pos(a)}))`,
          title: `${KIND[e.kind]} · ${STATUS[e.status]}`,
        });
      }),
      AM.el("span", { class: "axis start", text: "0:00" }),
      AM.el("span", { class: "axis end", text: AM.fmtClock((end - start) / 1000) }));
  }

  /* counselor card: the open episode, its type in plain words, one next move */
  function counselorCard(e, feedback) {
    return AM.el("article", { class: `c-rupture kind-${e.kind} st-${e.status}`, "data-episode": e.episode_id },
      AM.el("header", {}, AM.el("span", { class: "tone", text: `${KIND[e.kind]} rupture` }),
        AM.el("span", { class: "muted", text: ` · since turn ${e.markers && e.markers.length ? e.markers[0].turn_id : e.opened_turn_id}${e.status === "repair_attempted" ? " · you addressed it" : ""}` })),
      AM.el("p", { class: "what", text: FOR_COUNSELOR[e.kind] || "" }),
      e.suggestion ? AM.el("p", { class: "hint", "data-suggestion": "1", text: e.suggestion }) : null,
      AM.feedback ? AM.feedback.line(feedback) : null);
  }

  return { chip, card, strip, counselorCard, KIND, STATUS };
})();
