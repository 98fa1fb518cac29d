/* Turn-level counselor feedback on both pages. A model output: the gateway sends it
 * to counselors only when validated, so the counselor panel shows whatever it gets. */
"use strict";

AM.feedback = (function () {
  const PRINCIPLE = {
    empathy: "empathy", relevance: "relevance", conciseness: "conciseness", safety: "safety",
    self_exploration: "self-exploration", autonomy: "autonomy and confidence", change_stage: "stage of change",
  };
  const PATTERN = { passive_response: "passive response", boundary_overstepping: "boundary-overstepping" };

  /* the pattern the last few counselor turns show (most frequent), or null */
  function recentPattern(list, n) {
    const counts = {};
    for (const f of (list || []).slice(-(n || 3))) if (f.pattern) counts[f.pattern] = (counts[f.pattern] || 0) + 1;
    const best = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
    return best ? best[0] : null;
  }

  function card(f) {
    const weakest = Object.entries(f.principles || {}).sort((a, b) => a[1] - b[1]).slice(0, 2);
    return AM.el("div", { class: "feedback-card", "data-feedback": f.feedback_id },
      AM.el("div", { class: "alert-head" },
        AM.el("b", { text: `turn ${f.turn_id}` }),
        f.pattern ? AM.el("span", { class: "badge pattern", text: `${PATTERN[f.pattern]} (${f.pattern_source})` }) : null,
        f.validated ? null : AM.el("span", { class: "badge unvalidated-tag", title: "turn-level measures are not validated on this site; counselors do not see this", text: "unvalidated" }),
        AM.el("span", { class: "muted", text: ` ${f.phase} phase` })),
      AM.el("blockquote", { text: f.quote }),
      AM.el("p", {}, AM.el("b", { text: `Work on ${PRINCIPLE[f.principle] || f.principle}: ` }), f.next_move),
      AM.el("p", { class: "muted small", text: "lowest ratings: " + weakest.map(([k, v]) => `${PRINCIPLE[k] || k} ${AM.fmtScore(v)}`).join(", ") }));
  }

  /* one line for an episode card: which pattern the last counselor turns show, and the next move */
  function line(list) {
    if (!list || !list.length) return null;
    const pattern = recentPattern(list, 3);
    const last = list[list.length - 1];
    return AM.el("p", { class: "feedback-line", "data-feedback": last.feedback_id },
      AM.el("b", { text: pattern ? `Last counselor turns: ${PATTERN[pattern]}. ` : "Last counselor turns: no poor-alliance pattern. " }),
      last.next_move);
  }

  return { card, line, recentPattern, PATTERN, PRINCIPLE };
})();
