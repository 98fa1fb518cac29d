/* The client survey page. Plain JS, no build step.
 *
 * The link is /survey#t=<token>: the token is in the fragment, which browsers
 * never send to a server. It is read once, kept in sessionStorage (so a reload
 * works) and removed from the address bar. The page asks the gateway for the
 * form over a websocket (/survey/ws: "open"), shows the items in the link's
 * language, and sends the answers once ("submit"). Everything the server sends
 * is inserted with textContent. Nothing of the chat is ever shown here.
 */
"use strict";

const TEXT = {
  en: {
    title: "Your view of today's session",
    intro: "Please say how you experienced today's session. It takes about two minutes. " +
      "There are no right or wrong answers.",
    waiIntro: "How often does each statement describe your experience with your counselor?",
    srsIntro: "Choose a number from 0 to 10 for each question.",
    privacyHead: "What your answers are used for",
    privacy: "Your answers are stored by the counseling service with this session's record. They are used to " +
      "check whether the service's automatic monitoring of sessions is accurate, and in summaries for " +
      "supervisors (for example, how many sessions were rated). Your counselor does not see your individual " +
      "answers on their screen. Answering is voluntary, and this link works once.",
    submit: "Send my answers",
    sending: "Sending…",
    missing: (list) => `Please answer every question (missing: ${list}).`,
    thanksHead: "Thank you",
    thanks: "Your answers have been received. You can close this page.",
    usedHead: "Already answered",
    used: "This survey has already been answered with this link. Thank you — nothing more is needed.",
    expiredHead: "This link has expired",
    expired: "This survey link is no longer valid. If you would still like to give feedback, ask the " +
      "counseling service for a new link.",
    invalidHead: "This link is not valid",
    invalid: "The link may have been copied incompletely or changed. Please open it exactly as you received it.",
    unavailableHead: "Please try again later",
    unavailable: "The survey cannot be reached right now. Please try again in a few minutes.",
    notSaved: "Your answers could not be saved. Please try again.",
    loading: "Loading the survey…",
    question: "Question",
  },
  zh: {
    title: "你对今天咨询的感受",
    intro: "请告诉我们你对今天这次咨询的感受，大约需要两分钟。答案没有对错之分。",
    waiIntro: "以下每句话在多大程度上符合你和咨询师相处的感受？",
    srsIntro: "请为每个问题选择一个 0 到 10 之间的数字。",
    privacyHead: "你的回答将用于什么",
    privacy: "你的回答会由咨询服务机构与本次咨询的记录一起保存，用于检验本机构对咨询过程的自动监测是否准确，" +
      "并用于给督导的汇总统计（例如有多少次咨询得到了评价）。你的咨询师不会在其屏幕上看到你的个人回答。" +
      "回答完全自愿，此链接只能使用一次。",
    submit: "提交我的回答",
    sending: "正在提交…",
    missing: (list) => `请回答所有问题（未回答：${list}）。`,
    thanksHead: "谢谢你",
    thanks: "我们已收到你的回答。你可以关闭此页面。",
    usedHead: "已经回答过了",
    used: "此链接的问卷已经提交过了。谢谢你，无需再做任何事。",
    expiredHead: "此链接已过期",
    expired: "此问卷链接已失效。如果你仍想提供反馈，请向咨询服务机构索取新的链接。",
    invalidHead: "此链接无效",
    invalid: "链接可能复制不完整或被修改过。请按收到时的原样打开链接。",
    unavailableHead: "请稍后再试",
    unavailable: "目前无法连接到问卷，请几分钟后再试。",
    notSaved: "你的回答未能保存，请再试一次。",
    loading: "正在加载问卷…",
    question: "问题",
  },
};

const S = { token: null, lang: "en", ws: null, form: null, sent: false };
const STORE_KEY = "am-survey-token";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const T = () => TEXT[S.lang] || TEXT.en;

/* The language to use before the server has answered (or when the link is refused):
 * the link's own claim if it can be read (display only; the server decides), else the browser's. */
function guessLang(token) {
  try {
    const body = token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    const json = JSON.parse(decodeURIComponent(escape(atob(body + "===".slice((body.length + 3) % 4)))));
    if (json.lang === "zh" || json.lang === "en") return json.lang;
  } catch (e) { /* not readable: fall through */ }
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function setLang(lang) {
  S.lang = lang === "zh" ? "zh" : "en";
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  document.title = T().title;
}

function readToken() {
  const m = /(?:^#|&)t=([^&]+)/.exec(location.hash || "");
  if (m) {
    const token = decodeURIComponent(m[1]);
    try { sessionStorage.setItem(STORE_KEY, token); } catch (e) { /* storage disabled */ }
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
    return token;
  }
  try { return sessionStorage.getItem(STORE_KEY); } catch (e) { return null; }
}

function main() { return document.getElementById("survey"); }

function showMessage(kind, head, text) {
  const box = el("div", { class: `message ${kind}`, role: kind === "bad" ? "alert" : "status", tabindex: "-1",
                          id: "message", "data-kind": kind },
    el("h2", { text: head }), el("p", { text }));
  main().replaceChildren(el("h1", { id: "title", text: T().title }), box);
  box.focus();
}

function showRefusal(reason, serverMessage) {
  const t = T();
  const map = {
    used: ["ok", t.usedHead, t.used], expired: ["bad", t.expiredHead, t.expired],
    invalid: ["bad", t.invalidHead, t.invalid], unavailable: ["bad", t.unavailableHead, t.unavailable],
  };
  const [kind, head, text] = map[reason] || ["bad", t.invalidHead, serverMessage || t.invalid];
  showMessage(kind, head, text);
  main().querySelector(".message").dataset.reason = reason;
}

function renderForm(form) {
  S.form = form;
  setLang(form.lang);
  const t = T();
  const items = form.items.map((item, i) => {
    const name = `item-${item.id}`;
    const legendId = `q-${item.id}`;
    const options = el("div", { class: "options" + (form.instrument === "srs" ? " scale" : "") },
      item.options.map((opt) => {
        const id = `${name}-${opt.value}`;
        return el("div", { class: "option" },
          el("input", { type: "radio", name, id, value: opt.value, required: true }),
          el("label", { for: id, text: opt.label }));
      }));
    const parts = [el("legend", { id: legendId }, el("span", { class: "no", text: `${i + 1}.` }), item.text), options];
    if (item.low || item.high) {
      parts.push(el("div", { class: "anchors", id: `a-${item.id}` },
        el("span", { text: `0 = ${item.low}` }), el("span", { text: `10 = ${item.high}` })));
    }
    return el("fieldset", { class: "item", "data-item": item.id,
                            "aria-describedby": item.low || item.high ? `a-${item.id}` : null }, parts);
  });
  const onchange = (event) => {  // an answered question is no longer marked missing
    const fs = event.target.closest("fieldset");
    if (fs) fs.classList.remove("missing");
  };
  const formEl = el("form", { id: "form", novalidate: true, onsubmit: onSubmit, onchange },
    items,
    el("p", { id: "form-error", class: "form-error", role: "alert", hidden: true }),
    el("div", { class: "actions" }, el("button", { type: "submit", id: "send", text: t.submit })));
  main().replaceChildren(
    el("h1", { id: "title", text: t.title }),
    el("p", { class: "intro", text: t.intro }),
    el("section", { class: "privacy", "aria-labelledby": "privacy-head" },
      el("h2", { id: "privacy-head", text: t.privacyHead }), el("p", { text: t.privacy })),
    el("p", { class: "intro", text: form.instrument === "srs" ? t.srsIntro : t.waiIntro }),
    formEl);
}

function onSubmit(event) {
  event.preventDefault();
  if (S.sent) return;
  const t = T();
  const answers = {};
  const missing = [];
  S.form.items.forEach((item, i) => {
    const picked = document.querySelector(`input[name="item-${item.id}"]:checked`);
    const fs = document.querySelector(`fieldset[data-item="${item.id}"]`);
    fs.classList.toggle("missing", !picked);
    if (picked) answers[item.id] = Number(picked.value); else missing.push({ no: i + 1, fs });
  });
  const err = document.getElementById("form-error");
  if (missing.length) {
    err.textContent = t.missing(missing.map((m) => m.no).join(", "));
    err.hidden = false;
    missing[0].fs.querySelector("input").focus();
    return;
  }
  err.hidden = true;
  S.sent = true;
  const button = document.getElementById("send");
  button.disabled = true;
  button.textContent = t.sending;
  send({ type: "submit", token: S.token, answers });
}

function send(msg) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) { S.ws.send(JSON.stringify(msg)); return; }
  connect(() => S.ws.send(JSON.stringify(msg)));
}

function onReply(msg) {
  if (msg.type === "form") renderForm(msg);
  else if (msg.type === "thanks") showMessage("ok", T().thanksHead, T().thanks);
  else if (msg.type === "refused") showRefusal(msg.reason, msg.message);
  else if (msg.type === "error") {
    S.sent = false;
    const button = document.getElementById("send");
    if (button) { button.disabled = false; button.textContent = T().submit; }
    const err = document.getElementById("form-error");
    if (err) { err.textContent = msg.code === "not_saved" ? T().notSaved : msg.message; err.hidden = false; }
    else showRefusal("unavailable");
  }
}

function connect(then) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/survey/ws`);
  S.ws = ws;
  ws.onopen = then;
  ws.onmessage = (e) => { try { onReply(JSON.parse(e.data)); } catch (err) { showRefusal("unavailable"); } };
  ws.onerror = () => { if (!S.form) showRefusal("unavailable"); };
}

(function start() {
  S.token = readToken();
  setLang(S.token ? guessLang(S.token) : guessLang(""));
  document.getElementById("title").textContent = T().title;
  document.getElementById("state").textContent = T().loading;
  if (!S.token) { showRefusal("invalid"); return; }
  connect(() => send({ type: "open", token: S.token }));
})();
