// Shared behaviour of the three views: messages, API calls with CSRF, enhanced forms with a
// confirmation step, the speaking timer, the live connection and the refresh of page regions.

export const T = JSON.parse(document.getElementById("i18n")?.textContent || "{}");
export const t = (key) => T[key] || key;
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, code, detail) { super(`${code}: ${detail}`); this.status = status; this.code = code; this.detail = detail; }
}

export async function api(method, url, body) {
  const init = { method, headers: { "x-csrf-token": csrf(), accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = typeof body === "string" ? body : JSON.stringify(body); }
  const r = await fetch(url, init);
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, data?.error || "error", data?.detail || r.statusText);
  return data;
}

/** What an error means, in the page's language: a sentence per error code (`err_<code>` in the
 * catalogs); the server's English detail is not shown to people (it goes to the console). */
export function errorText(err) {
  if (err?.detail) console.info(`${err.code || "error"}: ${err.detail}`);
  const code = err instanceof ApiError ? err.code : "";
  return T[`err_${code}`] || (err instanceof ApiError ? t("err_other") : t("err_network"));
}

let toastTimer = null;
export function toast(message, kind = "info") {
  let el = document.getElementById("toast");
  if (!el) {
    el = document.createElement("div");
    el.id = "toast";
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    document.body.append(el);
  }
  el.className = `toast ${kind}`;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 9000 : 3000);
}

export function confirmStep(message) {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(true);
  document.getElementById("confirm-text").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

function formBody(form) {
  if (form.dataset.body) return JSON.parse(form.dataset.body);
  const body = form.dataset.extra ? JSON.parse(form.dataset.extra) : {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "radio" && !el.checked) continue;
    if (el.type === "checkbox" && el.dataset.type === "bool") { body[el.name] = el.checked; continue; }  // true or false, always sent
    if (el.type === "checkbox") { if (el.checked) body[el.name] = el.value; else if (el.dataset.unchecked) body[el.name] = el.dataset.unchecked; continue; }
    if (el.dataset.optional !== undefined && el.value === "") continue;
    if (el.closest("fieldset:disabled")) continue;
    const value = el.dataset.type === "int" ? parseInt(el.value, 10) : el.value;
    const [outer, inner] = el.name.split(".", 2);  // "rule.majority" nests: {"rule": {"majority": …}}
    if (inner === undefined) body[outer] = value;
    else (body[outer] = body[outer] || {})[inner] = value;
  }
  return body;
}

/** Every `form.api` posts its fields as JSON to `data-url` (after `data-confirm`, if any). */
function enhanceForms(onDone) {
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("api")) return;
    ev.preventDefault();
    if (form.dataset.confirm && !(await confirmStep(form.dataset.confirm))) return;
    const method = form.dataset.method || "POST";
    const body = method === "DELETE" && !form.dataset.body ? undefined : formBody(form);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await api(method, form.dataset.url, body);
      form.reset();
      form.closest("details")?.removeAttribute("open");
      toast(t("saved"));
      await onDone();
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

// -- the speaking timer: the server sends the remaining time; the page counts down locally ----

// The server renders the time left at its clock's `data-at`. The page estimates the server's clock
// from samples (the page's `data-now`, every pushed frame's `now`): a sample is late by its
// delivery, never early, so the largest recent one is the best estimate. A render shared by many
// pages, or sent a while after it was made, then still counts down right.
const offsets = [];
let serverOffset = 0;
export function learnServerTime(ms) {
  if (!Number.isFinite(ms)) return;
  offsets.push(ms - Date.now());
  if (offsets.length > 20) offsets.shift();
  serverOffset = Math.max(...offsets);
}
learnServerTime(Number(document.body.dataset.now));
const seen = new WeakMap(); // a timer without `data-at` counts from when the page first saw it
function tick() {
  const serverNow = Date.now() + serverOffset;
  const now = performance.now();
  for (const el of document.querySelectorAll("[data-timer]")) {
    const running = el.dataset.running === "1";
    if (!el.dataset.at && !seen.has(el)) seen.set(el, now);
    const elapsed = el.dataset.at ? serverNow - Number(el.dataset.at) : now - seen.get(el);
    const left = Number(el.dataset.remaining) - (running ? Math.max(0, elapsed) : 0);
    // Counts down to 0:00, then counts the overtime up: +0:01, +0:02, …
    const s = left > 0 ? Math.ceil(left / 1000) : Math.floor(-left / 1000);
    const text = `${left > 0 ? "" : "+"}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("over", left <= 0);
    if (el.closest(".speaker") && running) announceTimer(left);
  }
}

// -- regions: fetch the page again and swap the parts that changed -------------------------------

function isDirty(region) {
  if (region.querySelector("[data-dirty]") || region.hasAttribute("data-dirty")) return true;
  for (const el of region.querySelectorAll("textarea, input:not([type=hidden]):not([type=radio]):not([type=checkbox])")) {
    if (el.value !== el.defaultValue) return true;
  }
  for (const el of region.querySelectorAll("input[type=radio], input[type=checkbox]")) {
    if (el.checked !== el.defaultChecked) return true;
  }
  for (const el of region.querySelectorAll("select")) {
    if (el.multiple) {
      if (Array.from(el.options).some((o) => o.selected !== o.defaultSelected)) return true;
    } else {
      const initial = Math.max(0, Array.from(el.options).findLastIndex((o) => o.defaultSelected));
      if (el.options.length && el.selectedIndex !== initial) return true;
    }
  }
  return false;
}

// Newer renders of regions the user was editing, by region id: applied once the edit is done.
const keptBack = new Map();

/** Put a fresh copy of a region in place of the old one, unless the user is editing the old one
 * (then the fresh copy waits, and the region says that it changed); open <details> and the
 * focus are kept. False when the region was kept as it was. */
function swapRegion(old, fresh) {
  if (!old) return false;
  if (isDirty(old)) {
    if (old.outerHTML !== fresh.outerHTML) keepBack(old, fresh);
    return false;
  }
  keptBack.delete(old.id);
  if (old.outerHTML === fresh.outerHTML) return false;
  const open = Array.from(old.querySelectorAll("details"), (d) => d.open);
  const focusId = old.contains(document.activeElement) ? document.activeElement.id : null;
  const node = document.importNode(fresh, true);
  const details = node.querySelectorAll("details");
  if (details.length === open.length) details.forEach((d, i) => { d.open = open[i]; });
  old.replaceWith(node);
  if (focusId) document.getElementById(focusId)?.focus();
  return true;
}

function keepBack(old, fresh) {
  keptBack.set(old.id, fresh);
  if (old.querySelector(":scope > .stale-note")) return;
  const note = document.createElement("p");
  note.className = "stale-note";
  note.setAttribute("role", "status");
  note.textContent = t("region_stale");
  old.insertBefore(note, old.firstElementChild?.nextSibling || null);
  old.dataset.stale = "";
}

let afterCatchUp = () => {}; // the view's onRefresh (startView)

/** Apply the renders kept back for regions the user is no longer editing (then the view's
 * own state, e.g. "you have voted", is applied again). True when a region was replaced. */
export function catchUp() {
  let swapped = false;
  for (const [id, fresh] of keptBack) {
    const old = document.getElementById(id);
    if (!old) { keptBack.delete(id); continue; }
    if (!isDirty(old)) swapped = swapRegion(old, fresh) || swapped;
  }
  if (swapped) { personalize(); afterCatchUp(); }
  return swapped;
}
for (const type of ["reset", "focusout", "change"]) document.addEventListener(type, () => setTimeout(catchUp, 0));

/** A person's own controls in a render shared by everybody of their role: `data-if-me` (a JSON
 * list of usernames) shows an element to those people only, `data-unless-me` to everybody else
 * who is logged in. The server renders both hidden; the page knows who it is (`data-me`). */
export function personalize(root = document) {
  const me = document.body.dataset.me || "";
  const names = (el, attr) => { try { return JSON.parse(el.getAttribute(attr)); } catch { return []; } };
  for (const el of root.querySelectorAll("[data-if-me]")) el.hidden = !me || !names(el, "data-if-me").includes(me);
  for (const el of root.querySelectorAll("[data-unless-me]")) el.hidden = !me || names(el, "data-unless-me").includes(me);
}

function refreshed() {
  personalize();
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  document.dispatchEvent(new CustomEvent("kurultai:refreshed"));
}

// -- announcements for screen readers: who speaks, votes opening and closing, the timer ----------

/** Say `text` through the page's polite live region (#announcer). */
export function announce(text) {
  const el = document.getElementById("announcer");
  if (!el || !text) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

function floorFacts() {
  const speaker = document.getElementById("current-speaker")?.textContent.trim() || "";
  const votes = new Map(Array.from(document.querySelectorAll("article[data-election]"), (el) => [el.dataset.election, { status: el.dataset.status, title: el.querySelector("h3")?.firstChild?.textContent.trim() || "" }]));
  return { speaker, votes };
}

function announceChanges(before, after) {
  const said = [];
  if (after.speaker !== before.speaker) said.push(after.speaker ? t("now_speaking").replace("%(name)s", after.speaker) : t("nobody_speaking"));
  for (const [id, vote] of after.votes) {
    const was = before.votes.get(id);
    if (vote.status === "open" && was?.status !== "open") said.push(t("vote_opened").replace("%(title)s", vote.title));
    if (vote.status === "closed" && was && was.status !== "closed") said.push(t("vote_closed").replace("%(title)s", vote.title));
  }
  if (said.length) announce(said.join(" "));
}

let timerLeft = null; // the current speaker's time left at the last tick, for the announcements
function announceTimer(left) {
  if (timerLeft !== null && timerLeft > 30000 && left <= 30000 && left > 0) announce(t("thirty_seconds"));
  if (timerLeft !== null && timerLeft > 0 && left <= 0) announce(t("time_over"));
  timerLeft = left;
}

// The seq of the regions this page shows: the page's own, then each pushed frame's.
let renderedSeq = document.body.dataset.seq ? Number(document.body.dataset.seq) : null;

/** A `regions` frame: the server rendered these regions once for every page like this one.
 * False (and nothing changes) for a frame older than what the page shows. */
export function applyRegions(frame) {
  learnServerTime(frame.now);
  if (renderedSeq !== null && frame.seq < renderedSeq) return false;
  renderedSeq = frame.seq;
  const before = floorFacts();
  const tpl = document.createElement("template");
  for (const [id, html] of Object.entries(frame.regions || {})) {
    tpl.innerHTML = html;
    const fresh = tpl.content.querySelector("[data-region]");
    if (fresh) swapRegion(document.getElementById(id), fresh);
  }
  document.body.dataset.pushed = String(Number(document.body.dataset.pushed || 0) + 1);
  refreshed();
  announceChanges(before, floorFacts());
  return true;
}

/** A `mine` frame: the person's own parts (their keys), rendered for them alone. */
export function applyMine(frame) {
  const tpl = document.createElement("template");
  for (const [id, html] of Object.entries(frame.regions || {})) {
    tpl.innerHTML = html;
    const fresh = tpl.content.firstElementChild;
    const old = document.getElementById(id);
    if (fresh && old && old.outerHTML !== fresh.outerHTML) old.replaceWith(document.importNode(fresh, true));
  }
  refreshed();
}

let refreshing = null;
let again = false;
export async function refreshRegions() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    do {
      again = false;
      const r = await fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      learnServerTime(Number(doc.body.dataset.now));
      for (const fresh of doc.querySelectorAll("[data-region]")) swapRegion(document.getElementById(fresh.id), fresh);
      refreshed();
    } while (again);
  })().finally(() => { refreshing = null; });
  return refreshing;
}

// -- the live connection: reconnect with ?since= and resume -------------------------------------

export function connectLive(assemblyId, onFrame, onRightsChanged = () => {}, query = () => "") {
  const status = document.getElementById("live-status");
  // The page was rendered at this seq: the feed resumes after it (no snapshot, no refetch).
  let since = document.body.dataset.seq ? Number(document.body.dataset.seq) : null;
  let backoff = 500;
  let socket = null;
  let watchdog = null;
  const setState = (state) => {
    document.body.dataset.live = state;
    if (status) { status.hidden = false; status.textContent = t(state === "online" ? "online" : "offline"); status.className = `live-status ${state}`; }
  };
  const arm = () => { clearTimeout(watchdog); watchdog = setTimeout(() => socket?.close(), 45000); };
  const open = () => {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams(query());
    if (since !== null) params.set("since", String(since));
    const qs = params.toString();
    socket = new WebSocket(`${proto}://${location.host}/ws/assemblies/${assemblyId}${qs ? `?${qs}` : ""}`);
    socket.addEventListener("open", () => { backoff = 500; setState("online"); arm(); });
    socket.addEventListener("message", (m) => {
      arm();
      let frame;
      try { frame = JSON.parse(m.data); } catch { return; }
      if (frame.type === "heartbeat" || frame.type === "pong") return;
      // A pushed page gets no events: the regions stand for them, up to the frame's seq.
      if (frame.type === "regions") { if (since === null || frame.seq > since) since = frame.seq; onFrame(frame); return; }
      if (frame.type === "mine") { onFrame(frame); return; } // the person's own parts: no seq
      if (frame.type === "snapshot") { since = frame.seq; document.body.dataset.seq = String(since); onFrame(frame); return; }
      if (typeof frame.seq !== "number") return;
      if (since !== null && frame.seq <= since) return;
      since = frame.seq;
      document.body.dataset.seq = String(since);
      onFrame(frame); // unknown types included: they only cause a refresh
    });
    socket.addEventListener("close", (ev) => {
      clearTimeout(watchdog);
      if (ev.code === 4404) return;
      if (ev.code === 4400) since = null; // our position was refused: start over with a snapshot
      // 4401 (session ended) and 4403 (rights changed) resume like the other codes; the page was
      // rendered for the old rights, so the view renders it again for the new ones.
      if (ev.code === 4401 || ev.code === 4403) onRightsChanged();
      setState("offline");
      setTimeout(open, backoff + Math.random() * 250);
      backoff = Math.min(backoff * 2, 8000);
    });
  };
  open();
}

/** Start a view: forms, timer, live updates; `onFrame` sees each frame before the refresh.
 * `push`: the view whose regions the server renders once and pushes to every page like this
 * one (`live`, `delegate`, `chair`): such a page applies the pushed regions and never fetches
 * itself again, not even after its own forms (their change comes back as a push). */
export function startView({ delay = 150, onFrame = () => {}, onRefresh = () => {}, push = null } = {}) {
  const assemblyId = document.body.dataset.assembly;
  let pending = null;
  const schedule = () => {
    clearTimeout(pending);
    pending = setTimeout(() => refreshRegions().then(onRefresh), delay);
  };
  afterCatchUp = onRefresh;
  const refresh = push ? async () => { catchUp(); } : () => refreshRegions().then(onRefresh);
  enhanceForms(refresh);
  setInterval(tick, 250);
  tick();
  const item = new URLSearchParams(location.search).get("item");
  // Asked at each (re)connect: the server sends a render unless the page shows the current one.
  const query = () => (push ? new URLSearchParams({
    view: push, lang: document.documentElement.lang, ...(item ? { item } : {}), ...(renderedSeq !== null ? { rendered: String(renderedSeq) } : {}),
  }).toString() : "");
  const handle = (frame) => {
    if (frame.type === "regions") { if (applyRegions(frame)) { onFrame(frame); onRefresh(); } return; }
    if (frame.type === "mine") { applyMine(frame); onFrame(frame); onRefresh(); return; }
    onFrame(frame);
    if (!push) schedule(); // a pushed page waits for its regions (the server renders them after a snapshot too)
  };
  personalize();
  // The rights changed (logged out elsewhere, a new role): the page, its person's own parts and
  // its identity (data-me) were made for the old rights; load it again, once.
  if (assemblyId) connectLive(assemblyId, handle, () => location.reload(), query);
  return { refresh };
}
