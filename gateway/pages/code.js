/* The coding page (/code): a supervisor codes sampled turns from the codebook, keyboard first.
 *
 * Keys: 1–8 (counselor turns) or 1–2 (client turns) toggle a code, Enter saves and
 * moves to the next turn, ← / → move without saving, 0 clears. The session's own code (a
 * rupture episode): W withdrawal, C confrontation, N none, R toggles repaired — saved at once. The socket is
 * /code/ws (gateway/coding_socket.py): hello with the token, then "load" and "code".
 * Every text from the server (turns are client and counselor text, already
 * redacted) is inserted with textContent only. Language: ?lang=zh or ?lang=en.
 * ?mode=stretch: whole windows of a session (12 turns, the blocks the process-signal
 * flags are judged on) instead of single turns — the same keys, turn after turn of the
 * stretch, then the next stretch. Both modes show how many windows the codes so far
 * give a reference, beside what a window record needs.
 */
"use strict";

const TEXT = {
  en: {
    subtitle: "coding turns", other: "中文", otherLang: "zh", loading: "loading…", connected: "connected",
    closed: "disconnected", counselor: "Counselor", client: "Client", turnOf: (i, n) => `Turn ${i} of ${n}`,
    session: "session", codes: "Codes", none: "No turns to code: the sample is done, or the store keeps no turns.",
    saved: "saved", unsaved: "not saved yet", keys: "Number keys toggle a code · Enter saves and goes on · ← → move · 0 clears",
    agreeTitle: "Coders' agreement", agreeNone: "No turn has been coded by two coders yet.",
    agreeHead: ["code", "turns", "agree", "κ"], agreeNote: (d, c) => `${d} turns coded by two coders (${c} coded in all)`,
    refused: "Not saved: ", allDone: "All turns coded. Thank you.",
    sessionTitle: "This session: rupture episode", notCoded: "not coded yet", noEpisode: "no episode",
    withdrawal: "withdrawal", confrontation: "confrontation", repaired: "repaired", unrepaired: "not repaired",
    sessionKeys: "W withdrawal · C confrontation · N none · R repaired",
    stretchSubtitle: "coding stretches", toStretch: "code stretches", toTurns: "code single turns",
    stretchOf: (i, n, p, m) => `Stretch ${i} of ${n} · turn ${p} of ${m}`,
    noStretch: "No stretches to code: the sample is done, or the store keeps no turns.",
    windowsTitle: "Windows for the process-signal record",
    windowsLine: (w) => `${w.speaker === "client" ? "client" : "counselor"} turns (${w.flags.join(", ")}): `
      + `${w.windows} of ${w.need_windows} windows, ${w.sessions} of ${w.need_sessions} sessions`,
  },
  zh: {
    subtitle: "话轮编码", other: "English", otherLang: "en", loading: "加载中…", connected: "已连接",
    closed: "已断开", counselor: "咨询师", client: "来访者", turnOf: (i, n) => `第 ${i} / ${n} 个话轮`,
    session: "会话", codes: "编码", none: "没有待编码的话轮：样本已完成，或存储中没有保存话轮。",
    saved: "已保存", unsaved: "尚未保存", keys: "数字键切换编码 · 回车保存并继续 · ← → 移动 · 0 清除",
    agreeTitle: "编码者一致性", agreeNone: "还没有由两位编码者共同编码的话轮。",
    agreeHead: ["编码", "话轮", "一致", "κ"], agreeNote: (d, c) => `${d} 个话轮由两位编码者编码（共 ${c} 个）`,
    refused: "未保存：", allDone: "全部话轮已编码，谢谢。",
    sessionTitle: "本次会话：破裂事件", notCoded: "尚未编码", noEpisode: "无破裂事件",
    withdrawal: "退缩型", confrontation: "对抗型", repaired: "已修复", unrepaired: "未修复",
    sessionKeys: "W 退缩型 · C 对抗型 · N 无 · R 已修复",
    stretchSubtitle: "片段编码", toStretch: "按片段编码", toTurns: "按单个话轮编码",
    stretchOf: (i, n, p, m) => `第 ${i} / ${n} 个片段 · 第 ${p} / ${m} 个话轮`,
    noStretch: "没有待编码的片段：样本已完成，或存储中没有保存话轮。",
    windowsTitle: "过程信号记录所需的窗口",
    windowsLine: (w) => `${w.speaker === "client" ? "来访者" : "咨询师"}话轮（${w.flags.join("、")}）：`
      + `${w.windows} / ${w.need_windows} 个窗口，${w.sessions} / ${w.need_sessions} 个会话`,
  },
};
const S = { ws: null, lang: "en", mode: "turns", codebook: [], turns: [], at: 0, chosen: new Set(), agreement: null };
const T = () => TEXT[S.lang];

function pickLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "zh" || q === "en") return q;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function pickMode() {
  return new URLSearchParams(location.search).get("mode") === "stretch" ? "stretch" : "turns";
}

function codesFor(speaker) { return S.codebook.filter((c) => c.speaker === speaker); }

function current() { return S.turns[S.at]; }

function enter(i) {
  S.at = Math.max(0, Math.min(i, S.turns.length - 1));
  const t = current();
  S.chosen = new Set(t && t.codes ? t.codes : []);
  render();
}

function renderWindows(box) {
  const w = S.agreement && S.agreement.windows;
  if (!w) return;
  box.append(AM.el("h4", { text: T().windowsTitle }),
    AM.el("ul", { class: "windows", id: "windows" }, w.map((x) => AM.el("li", {
      "data-speaker": x.speaker, class: x.windows >= x.need_windows && x.sessions >= x.need_sessions ? "enough" : "",
      text: T().windowsLine(x) }))));
}

function renderAgreement() {
  const box = AM.el("section", { class: "agreebox", id: "agreement" }, AM.el("h3", { text: T().agreeTitle }));
  const a = S.agreement;
  if (!a || !a.double_coded) {
    box.append(AM.el("p", { class: "muted", text: T().agreeNone }));
    renderWindows(box);
    return box;
  }
  box.append(AM.el("p", { class: "muted", text: T().agreeNote(a.double_coded, a.coded) }));
  const head = AM.el("tr", {}, T().agreeHead.map((h) => AM.el("th", { text: h })));
  const rows = a.codes.filter((c) => c.turns > 0).map((c) => {
    const entry = S.codebook.find((e) => e.name === c.code);
    return AM.el("tr", { "data-code": c.code },
      AM.el("td", { text: entry ? entry[S.lang] : c.code }), AM.el("td", { text: c.turns }),
      AM.el("td", { text: c.percent === null ? "–" : `${Math.round(c.percent * 100)}%` }),
      AM.el("td", { class: "kappa", text: c.kappa === null ? "–" : c.kappa.toFixed(2) }));
  });
  box.append(AM.el("table", { class: "agree" }, AM.el("thead", {}, head), AM.el("tbody", {}, rows)));
  renderWindows(box);
  return box;
}

function render() {
  const main = document.getElementById("main");
  main.replaceChildren();
  const t = current();
  if (!t) {
    main.append(AM.el("p", { class: "wide muted", id: "empty", text: S.mode === "stretch" ? T().noStretch : T().none }),
      renderAgreement());
    return;
  }
  const st = t.stretch;
  const where = st ? T().stretchOf(st.number, st.of, st.position, st.size) : T().turnOf(S.at + 1, S.turns.length);
  const turnbox = AM.el("section", { class: "turnbox", id: "turn", "data-session": t.session_id, "data-turn": t.turn_id },
    AM.el("div", { class: "progress", id: "progress" },
      `${where} · ${T().session} ${t.session_id} · `,
      AM.el("span", { id: "saved", class: t.codes ? "saved-mark" : "muted", text: t.codes ? T().saved : T().unsaved })));
  for (const c of t.context) {
    const target = c.turn_id === t.turn_id;
    turnbox.append(AM.el("div", { class: `ctx${target ? " target" : ""}`, "data-turn": c.turn_id },
      AM.el("span", { class: "who", text: c.speaker === "counselor" ? T().counselor : T().client }),
      AM.el("span", { class: "text", text: c.text })));
  }
  const codebox = AM.el("section", { class: "codebox", id: "codes" }, AM.el("h3", { text: T().codes }));
  for (const c of codesFor(t.speaker)) {
    codebox.append(AM.el("div", { class: `code-opt${S.chosen.has(c.name) ? " on" : ""}`, "data-code": c.name,
      "aria-pressed": S.chosen.has(c.name) ? "true" : "false" },
      AM.el("kbd", { text: c.key }), AM.el("span", { text: c[S.lang] }),
      AM.el("span", { class: "hint", text: c[`hint_${S.lang}`] })));
  }
  codebox.append(AM.el("p", { class: "keys", text: T().keys }));
  const r = t.rupture;
  const state = !t.session_coded ? T().notCoded : !r ? T().noEpisode
    : `${T()[r.type]} · ${r.repaired ? T().repaired : T().unrepaired}`;
  codebox.append(AM.el("div", { class: "session-code", id: "rupture", "data-coded": t.session_coded ? "yes" : "no" },
    AM.el("h4", { text: T().sessionTitle }), AM.el("p", { id: "rupture-state", text: state }),
    AM.el("p", { class: "keys", text: T().sessionKeys })));
  main.append(turnbox, codebox, AM.el("div", { class: "wide" }, renderAgreement()));
}

function save() {
  const t = current();
  if (!t) return;
  S.ws.send(JSON.stringify({ type: "code", mode: S.mode, session_id: t.session_id, turn_id: t.turn_id,
    codes: [...S.chosen] }));
}

function onKey(ev) {
  const t = current();
  if (!t || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (/^[0-9]$/.test(ev.key)) {
    const n = Number(ev.key);
    if (n === 0) S.chosen.clear();
    const code = codesFor(t.speaker).find((c) => c.key === n);
    if (code) S.chosen.has(code.name) ? S.chosen.delete(code.name) : S.chosen.add(code.name);
    render();
  } else if (["w", "c", "n", "r"].includes(ev.key.toLowerCase())) {
    const k = ev.key.toLowerCase();
    const r = t.rupture;
    let rupture;
    if (k === "n") rupture = null;
    else if (k === "r") { if (!r) return; rupture = { type: r.type, repaired: !r.repaired }; }
    else rupture = { type: k === "w" ? "withdrawal" : "confrontation", repaired: r ? r.repaired : false };
    S.ws.send(JSON.stringify({ type: "code", mode: S.mode, session_id: t.session_id, turn_id: -1, codes: { rupture } }));
  } else if (ev.key === "Enter") {
    save();
  } else if (ev.key === "ArrowRight") {
    enter(S.at + 1);
  } else if (ev.key === "ArrowLeft") {
    enter(S.at - 1);
  } else {
    return;
  }
  ev.preventDefault();
}

function onMessage(raw) {
  const msg = JSON.parse(raw);
  if (msg.type === "welcome") {
    document.getElementById("who").textContent = msg.name;
    S.ws.send(JSON.stringify({ type: "load", mode: S.mode }));
  } else if (msg.type === "coding") {
    S.codebook = msg.codebook;
    S.turns = msg.turns;
    S.agreement = msg.agreement;
    const firstOpen = S.turns.findIndex((t) => !t.codes);
    enter(firstOpen < 0 ? 0 : firstOpen);
  } else if (msg.type === "saved" && msg.turn_id === -1) {
    for (const x of S.turns) if (x.session_id === msg.session_id) { x.session_coded = true; x.rupture = msg.rupture; }
    render();
  } else if (msg.type === "saved") {
    const t = S.turns.find((x) => x.session_id === msg.session_id && x.turn_id === msg.turn_id);
    if (t) t.codes = msg.codes;
    S.agreement = msg.agreement;
    if (S.at < S.turns.length - 1) enter(S.at + 1);
    else { render(); AM.notice(T().allDone); }
  } else if (msg.type === "error") {
    AM.notice(T().refused + msg.message);
  }
}

function start() {
  S.lang = pickLang();
  S.mode = pickMode();
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  document.getElementById("subtitle").textContent = S.mode === "stretch" ? T().stretchSubtitle : T().subtitle;
  const stretchQuery = S.mode === "stretch" ? "&mode=stretch" : "";
  const sw = document.getElementById("lang-switch");
  sw.textContent = T().other;
  sw.setAttribute("href", `?lang=${T().otherLang}${stretchQuery}`);
  const mode = document.getElementById("mode-switch");
  mode.textContent = S.mode === "stretch" ? T().toTurns : T().toStretch;
  mode.setAttribute("href", `?lang=${S.lang}${S.mode === "stretch" ? "" : "&mode=stretch"}`);
  const token = AM.takeToken();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  S.ws = new WebSocket(`${proto}//${location.host}/code/ws`);
  S.ws.onopen = () => { AM.showStatus("live", T().connected); S.ws.send(JSON.stringify({ type: "hello", token })); };
  S.ws.onmessage = (ev) => onMessage(ev.data);
  S.ws.onclose = (ev) => { AM.showStatus("down", T().closed); if (ev.reason) AM.notice(ev.reason); };
  document.addEventListener("keydown", onKey);
}

start();
