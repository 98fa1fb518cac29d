/* Shared by the board and the counselor panel: token handling, the websocket
 * connection with resume, and small DOM/format helpers. Plain JS, no build step.
 *
 * The token comes from the URL fragment (#token=...; a fragment is never sent to
 * a server or in a Referer) or the paste box, and is kept in sessionStorage only
 * (gone when the tab closes). Every text that comes from the server is inserted
 * with textContent, never innerHTML: quotes are client text.
 */
"use strict";

const AM = {};

AM.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike style=""
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};

/* A transient message in the page's #notice bar (a refused request, a lost connection). */
AM.notice = function (text) {
  const n = document.getElementById("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(AM.notice.t);
  AM.notice.t = setTimeout(() => (n.hidden = true), 8000);
};

AM.fmtScore = (v) => (typeof v === "number" ? v.toFixed(1) : "–");
AM.fmtDelta = (d) => (typeof d === "number" ? (d > 0 ? "+" : d < 0 ? "−" : "±") + Math.abs(d).toFixed(1) : "");
AM.fmtClock = function (seconds) {
  if (!(seconds >= 0)) return "–";
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
};
AM.level = function (v) {
  if (typeof v !== "number") return "none";
  if (v < 2.5) return "low";
  if (v < 3.5) return "mid";
  return "high";
};
AM.verifiedQuotes = (quotes) => (quotes || []).filter((q) => q && q.verified && q.text);

/* The connection pill in the top bar (#status). */
AM.showStatus = function (kind, text) {
  const s = document.getElementById("status");
  s.className = `status ${kind}`;
  s.textContent = text;
};

AM.takeToken = function () {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("am-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search); // keep it out of history
  }
  return sessionStorage.getItem("am-token");
};

/* A link to the after-session page of one session, carrying this tab's token in the
 * fragment (never sent to a server): it opens in a new tab, which has no sessionStorage. */
AM.sessionLink = function (sessionId) {
  const token = sessionStorage.getItem("am-token");
  const href = `/session?id=${encodeURIComponent(sessionId)}${token ? `#token=${encodeURIComponent(token)}` : ""}`;
  return AM.el("a", { class: "session-link", href, target: "_blank", rel: "noopener", "data-session-link": sessionId,
    text: "session page" });
};

/* Connection with resume: the cursor is {"topic:partition": last offset seen}. */
AM.Client = class {
  constructor(handlers) {
    this.h = handlers;
    this.cursor = null;
    this.ws = null;
    this.retry = 0;
    this.stopped = false;
    this.serverSkew = 0; // server clock minus ours, in ms
  }
  start(token) {
    this.token = token;
    this.stopped = false;
    this.open();
  }
  open() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = (this.ws = new WebSocket(`${proto}://${location.host}/ws`));
    this.h.status("connecting", "connecting…");
    ws.onopen = () => {
      const hello = { type: "hello", token: this.token };
      // an empty cursor is no position: the gateway answers it with a snapshot anyway, without the "gap"
      if (this.cursor && Object.keys(this.cursor).length) hello.resume = this.cursor;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (e) => this.onMessage(JSON.parse(e.data));
    ws.onclose = (e) => this.onClose(e);
  }
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }
  advance(id) {
    const i = id.lastIndexOf(":");
    const stream = id.slice(0, i), offset = Number(id.slice(i + 1));
    if (!this.cursor) this.cursor = {};
    if (!(stream in this.cursor) || this.cursor[stream] < offset) this.cursor[stream] = offset;
  }
  onMessage(msg) {
    switch (msg.type) {
      case "welcome":
        this.retry = 0;
        this.serverSkew = msg.server_time * 1000 - Date.now();
        this.h.status("live", "live");
        this.h.welcome && this.h.welcome(msg);
        break;
      case "snapshot":
        this.cursor = Object.assign({}, msg.cursor);
        this.h.snapshot(msg.sessions);
        break;
      case "gap":
        this.h.notice && this.h.notice("Some updates were missed while offline; the view was reloaded.");
        break;
      case "resumed":
        this.h.notice && msg.missed && this.h.notice(`Reconnected: ${msg.missed} missed update(s) caught up.`);
        break;
      case "position":
        this.cursor = Object.assign(this.cursor || {}, msg.cursor);
        break;
      case "event":
        this.advance(msg.id);
        this.h.event(msg);
        break;
      default:
        this.h[msg.type] && this.h[msg.type](msg);
    }
  }
  onClose(e) {
    if (this.stopped) return;
    if (e.code === 4001 || e.code === 4002) {
      this.h.status("down", e.reason || "not authorised");
      this.h.authFailed && this.h.authFailed(e.reason);
      return;
    }
    const wait = Math.min(15000, 500 * 2 ** this.retry++);
    this.h.status("down", `${e.reason || "disconnected"} — retrying in ${Math.round(wait / 1000)} s`);
    setTimeout(() => this.open(), wait);
  }
  now() {
    return Date.now() + this.serverSkew;
  }
};

/* The token box shown when there is no token (or it was refused). */
AM.tokenBox = function (container, onToken, reason) {
  container.replaceChildren(
    AM.el("form", {
      class: "token-box",
      onsubmit: (e) => {
        e.preventDefault();
        const v = e.target.querySelector("textarea").value.trim();
        if (v) {
          sessionStorage.setItem("am-token", v);
          onToken(v);
        }
      },
    },
      AM.el("h2", { text: "Sign in with your access token" }),
      reason ? AM.el("p", { class: "warn", text: `The gateway refused the token: ${reason}.` }) : null,
      AM.el("p", { class: "muted", text: "Ask your administrator for a token (alliance-monitor token issue …) and paste it here. It is kept only for this browser tab." }),
      AM.el("textarea", { rows: 3, placeholder: "paste token", "aria-label": "access token" }),
      AM.el("button", { type: "submit", class: "btn primary", text: "Connect" })
    )
  );
};

/** The gateway tells each alert's (and episode's) routing in `gate` (validation/gate.py and
 * validation/detectors.py decide): "validated", "unvalidated" (supervisors only) or "opened"
 * (a rule the site opened to counselors by setting: still unvalidated, and marked so). */
AM.isModelAlert = (a) => a.kind !== "process";
AM.showUnvalidated = (a) => a.gate === "unvalidated" || a.gate === "opened";
AM.unvalidatedText = (a) => (a.gate === "opened" ? "unvalidated · opened by setting" : "unvalidated");

/** "bond drop", or for a process alert the signal that fired ("rushing", "withdrawal"). */
AM.alertLabel = (a) => {
  if (AM.isModelAlert(a)) return `${a.dimension} ${a.kind}`;
  return (a.signal || "process signal").replace(/_/g, " ");
};
