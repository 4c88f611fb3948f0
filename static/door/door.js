// The door page: scan tickets with the phone's camera, verify each on the device with the
// published Ed25519 key, check in exactly once on the server, and keep working offline.
//
// Online, the server decides (it sees every door). When it cannot be reached in time, the page
// decides from the saved guest list, queues the operation in IndexedDB and sends the queue
// when the connection returns; the server then reconciles (the first scan wins).

const root = document.getElementById("door");
const EVENT_ID = root.dataset.eventId;
const TIMEZONE = root.dataset.timezone || "UTC";
const API = `/door/api/events/${EVENT_ID}`;
const SERVER_TIMEOUT_MS = 900; // past this, answer from the device: the door must not wait
const SYNC_EVERY_MS = 4000;
const ROSTER_EVERY_MS = 8000;
const SAME_CODE_PAUSE_MS = 4000; // a ticket held in front of the camera is not scanned twice
const ANSWER_MS = { green: 2200, amber: 4000, red: 4000 };
const SYNC_BATCH = 200;

const $ = (id) => document.getElementById(id);
const ui = {
  net: $("net"), countIn: $("count-in"), countExpected: $("count-expected"), countBar: $("count-bar"),
  camera: $("camera"), video: $("video"), start: $("start"), device: $("device"),
  cameraNote: $("camera-note"), scannerKind: $("scanner-kind"), offline: $("offline-state"),
  queue: $("queue-state"), auth: $("auth-state"), undo: $("undo"), last: $("last"), q: $("q"),
  results: $("results"), notices: $("notices"), answer: $("answer"),
  answerTitle: $("answer-title"), answerName: $("answer-name"), answerDetail: $("answer-detail"),
  answerChannel: $("answer-channel"), answerUndo: $("answer-undo"),
};

const state = {
  people: new Map(), // registration id -> {id, name, email, channel, status, checked_in_at, checked_in_by}
  event: null,
  key: null, // the published key info
  verifyKey: null, // a function (signature, message) -> Promise<boolean>
  rosterSince: null,
  online: navigator.onLine,
  authExpired: false,
  syncing: false,
  queued: 0,
  lastCheckin: null, // {registration_id, op_id, name}
  answerOpen: false,
  codeSeenAt: 0,
  lastCode: "",
  lastCodeAt: 0,
};
window.doorTimings = { start: performance.now() };

// ---------------------------------------------------------------- small helpers

const CHANNELS = { native: "Registered here", meetup: "Meetup", eventbrite: "Eventbrite", luma: "Luma" };
const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: TIMEZONE });
const formatTime = (iso) => (iso ? timeFormat.format(new Date(iso)) : "");
const newId = () => crypto.randomUUID();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fold = (text) => (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

function deviceName() {
  return (ui.device.value || "").trim().replace(/\s+/g, " ").slice(0, 60) || "Door";
}

function maskEmail(email) {
  if (!email || !email.includes("@")) return "";
  const [user, domain] = email.split("@");
  return `${user.slice(0, 2)}…@${domain}`;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

// ---------------------------------------------------------------- IndexedDB: list and queue

let dbPromise = null;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const request = indexedDB.open("door", 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("rosters", { keyPath: "eventId" });
      request.result.createObjectStore("queue", { keyPath: "op_id" }).createIndex("event", "eventId");
    };
    request.onsuccess = () => {
      // Signing out deletes the database: let it go rather than block that.
      request.result.onversionchange = () => request.result.close();
      resolve(request.result);
    };
    request.onerror = () => reject(request.error);
  });
  return dbPromise;
}

async function store(name, mode, work) {
  const tx = (await db()).transaction(name, mode);
  const result = work(tx.objectStore(name));
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
  return result && "result" in result ? result.result : result;
}

const queueAll = () => store("queue", "readonly", (s) => s.index("event").getAll(EVENT_ID));
const queuePut = (op) => store("queue", "readwrite", (s) => s.put({ ...op, eventId: EVENT_ID }));
const queueGet = (opId) => store("queue", "readonly", (s) => s.get(opId));
const queueDelete = (opIds) => store("queue", "readwrite", (s) => opIds.forEach((id) => s.delete(id)));

const FIELDS = ["id", "name", "email", "channel", "status", "checked_in_at", "checked_in_by"];

async function saveRoster() {
  const people = [...state.people.values()].map((p) => FIELDS.map((f) => p[f] ?? null));
  await store("rosters", "readwrite", (s) =>
    s.put({ eventId: EVENT_ID, event: state.event, key: state.key, since: state.rosterSince, people }),
  );
}

let saveTimer = null;
function saveRosterSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => saveRoster().catch(() => {}), 300);
}

// ---------------------------------------------------------------- server calls

// The API calls carry a short-lived door token (the API does not read the session on every
// scan). It comes from /door/token, which the sign-in session answers, and is renewed in the
// background ahead of its expiry. Without one (that page unreachable for a moment), a call
// goes with the session cookie alone, which the API still accepts, only more slowly.
const door = { token: null, until: 0, pending: null };
const TOKEN_RENEW_MS = 5 * 60 * 1000; // renew when less than this is left
const TOKEN_SLACK_MS = 30 * 1000; // use no token this close to its expiry (clocks drift)

function renewToken() {
  door.pending ??= (async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    try {
      const response = await fetch("/door/token", {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
        signal: controller.signal, redirect: "error",
      });
      if (response.status === 401 || response.status === 403) {
        door.token = null;
        setAuthExpired(true);
      } else if (response.ok) {
        const data = await response.json();
        door.token = data.token;
        door.until = Date.now() + data.expires_in * 1000;
      }
    } catch (error) { /* unreachable: calls go on the session meanwhile */ }
    finally {
      clearTimeout(timer);
      door.pending = null;
    }
    return door.token;
  })();
  return door.pending;
}

// The token to send, waiting at most `waitMs` for one when there is none.
async function doorToken(waitMs) {
  const left = door.until - Date.now();
  if (door.token && left > TOKEN_SLACK_MS) {
    if (left < TOKEN_RENEW_MS) renewToken();
    return door.token;
  }
  door.token = null;
  return Promise.race([renewToken(), sleep(waitMs).then(() => null)]);
}

async function call(path, { method = "GET", body, timeout = SERVER_TIMEOUT_MS, retried = false } = {}) {
  if (!navigator.onLine) return { ok: false, network: true };
  const token = await doorToken(Math.min(timeout, SERVER_TIMEOUT_MS));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  try {
    const headers = body ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" };
    if (token) headers["X-Door-Token"] = token;
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers,
      body: body ? JSON.stringify(body) : undefined,
      signal: controller.signal,
      redirect: "error",
    });
    if ((response.status === 401 || response.status === 403) && token && !retried) {
      // The token may have lapsed (a phone asleep): renew it once and try again.
      clearTimeout(timer);
      door.token = null;
      return call(path, { method, body, timeout, retried: true });
    }
    if (response.status === 401 || response.status === 403) {
      setAuthExpired(true);
      return { ok: false, status: response.status };
    }
    if (response.status >= 500) return { ok: false, network: true, status: response.status };
    const data = await response.json().catch(() => null);
    if (!response.ok) return { ok: false, status: response.status, data };
    setAuthExpired(false);
    setOnline(true);
    return { ok: true, data };
  } catch (error) {
    setOnline(false);
    return { ok: false, network: true };
  } finally {
    clearTimeout(timer);
  }
}

function setAuthExpired(expired) {
  state.authExpired = expired;
  ui.auth.hidden = !expired;
}

function setOnline(online) {
  state.online = online;
  renderNet();
}

function renderNet() {
  const mode = state.syncing ? "syncing" : state.online && navigator.onLine ? "online" : "offline";
  ui.net.dataset.state = mode;
  ui.net.textContent = { syncing: "Syncing…", online: "Online", offline: "Offline" }[mode];
  ui.queue.hidden = state.queued === 0;
  ui.queue.textContent = `${state.queued} check-in${state.queued === 1 ? "" : "s"} waiting to be sent`;
}

// ---------------------------------------------------------------- tickets: base32 + Ed25519

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const TOKEN_LENGTH = 159;
const TOKEN_BYTES = 99;

function base32Decode(text) {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0, value = 0, index = 0;
  for (const char of text) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) return null;
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      out[index++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // Only the canonical spelling is a ticket: the unused low bits must be zero.
  if (bits > 0 && (value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
function uuidOf(bytes) {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function useKey(key) {
  state.key = key;
  const raw = base64UrlBytes(key.public_key);
  try {
    const cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    state.verifyKey = (signature, message) => crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, signature, message);
  } catch (error) {
    // No Ed25519 in this browser's WebCrypto: the vendored library does the same check.
    const ed = await import(root.dataset.noble);
    state.verifyKey = (signature, message) => ed.verifyAsync(signature, message, raw, { zip215: false });
  }
}

// -> {registrationId} or {reason: malformed|forged|altered|other_event}
async function verifyToken(text) {
  const token = text.trim().toUpperCase();
  if (token.length !== TOKEN_LENGTH) return { reason: "malformed" };
  const raw = base32Decode(token);
  if (!raw || raw.length !== TOKEN_BYTES || raw[0] !== state.key.format) return { reason: "malformed" };
  if (hex(raw.subarray(1, 3)) !== state.key.key_id) return { reason: "forged" };
  const context = new TextEncoder().encode(state.key.context);
  const message = new Uint8Array(context.length + 35);
  message.set(context);
  message.set(raw.subarray(0, 35), context.length);
  if (!(await state.verifyKey(raw.subarray(35), message))) return { reason: "altered" };
  if (uuidOf(raw.subarray(3, 19)) !== EVENT_ID) return { reason: "other_event" };
  return { registrationId: uuidOf(raw.subarray(19, 35)) };
}

// ---------------------------------------------------------------- the guest list

function remember(attendee) {
  if (!attendee) return;
  const known = state.people.get(attendee.id) || { email: "" };
  state.people.set(attendee.id, { ...known, ...attendee });
  saveRosterSoon();
}

// Guests come in with the person who brought them: the door says how many to expect.
function withGuests(person) {
  const n = Number(person?.guests) || 0;
  return n ? ` +${n} guest${n === 1 ? "" : "s"}` : "";
}

function applyRows(fields, rows) {
  for (const row of rows) {
    const person = Object.fromEntries(fields.map((f, i) => [f, row[i]]));
    state.people.set(person.id, person);
  }
}

async function loadSavedRoster() {
  const saved = await store("rosters", "readonly", (s) => s.get(EVENT_ID));
  if (!saved) return false;
  state.event = saved.event;
  state.rosterSince = saved.since;
  applyRows(FIELDS, saved.people);
  await useKey(saved.key);
  return true;
}

async function fetchRoster({ full }) {
  const since = !full && state.rosterSince ? `?since=${encodeURIComponent(state.rosterSince)}` : "";
  const answer = await call(`${API}/roster${since}`, { timeout: full ? 15000 : 5000 });
  if (!answer.ok) return false;
  const roster = answer.data;
  if (roster.full) state.people.clear();
  applyRows(roster.fields, roster.people);
  await reapplyQueue(); // check-ins made here and not sent yet still count here
  state.event = roster.event;
  // A few seconds of overlap, so a change committed while we read is not missed.
  state.rosterSince = new Date(Date.parse(roster.generated_at) - 5000).toISOString();
  if (!state.key || state.key.public_key !== roster.key.public_key) await useKey(roster.key);
  if (roster.full || roster.people.length) {
    await saveRoster(); // unchanged lists are not rewritten every few seconds
    renderCounts();
    renderResults();
  }
  return true;
}

async function reapplyQueue() {
  for (const op of await queueAll()) {
    const person = op.registration_id && state.people.get(op.registration_id);
    if (!person) continue;
    if (op.kind === "undo") Object.assign(person, { checked_in_at: null, checked_in_by: "" });
    else if (op.local === "green") Object.assign(person, { checked_in_at: op.scanned_at, checked_in_by: op.device });
  }
}

function renderCounts() {
  let expected = 0, checkedIn = 0;
  for (const person of state.people.values()) {
    if (person.status !== "confirmed") continue;
    expected += 1;
    if (person.checked_in_at) checkedIn += 1;
  }
  ui.countIn.textContent = checkedIn.toLocaleString("en");
  ui.countExpected.textContent = expected.toLocaleString("en");
  ui.countBar.style.width = expected ? `${(100 * checkedIn) / expected}%` : "0";
}

// ---------------------------------------------------------------- deciding

// What the device answers on its own, from the saved list (offline, or server too slow).
function decideHere(registrationId) {
  const person = state.people.get(registrationId);
  if (!person) {
    return { result: "ok", tone: "green", attendee: { id: registrationId, name: "", channel: "", status: "confirmed" },
      note: "A valid ticket, registered after this list was saved." };
  }
  if (person.status === "cancelled") return { result: "cancelled", tone: "red", attendee: person };
  if (person.status === "waitlisted") return { result: "waitlisted", tone: "red", attendee: person };
  if (person.checked_in_at) return { result: "duplicate", tone: "amber", attendee: { ...person } };
  return { result: "ok", tone: "green", attendee: person };
}

async function queueOp(op, local) {
  const record = { ...op, device: deviceName(), local: local.tone };
  await queuePut(record);
  if (local.result === "ok" && local.attendee && state.people.has(local.attendee.id)) {
    Object.assign(state.people.get(local.attendee.id), { checked_in_at: op.scanned_at, checked_in_by: record.device });
    saveRosterSoon();
  }
  await refreshQueueCount();
}

async function refreshQueueCount() {
  state.queued = (await queueAll()).length;
  renderNet();
}

// A scanned code, or a manual check-in from the search list.
async function checkIn({ token = null, registrationId = null }) {
  const op = { op_id: newId(), kind: "checkin", scanned_at: new Date().toISOString() };
  if (token !== null) op.token = token.slice(0, 512);
  let target = registrationId;
  if (token !== null) {
    const verdict = await verifyToken(token);
    if (verdict.reason) {
      show({ result: verdict.reason, tone: "red", attendee: null });
      await report(op); // every scan goes into the server's log, refused ones too
      return;
    }
    target = verdict.registrationId;
  } else {
    op.registration_id = registrationId;
  }
  if (state.online && !state.authExpired) {
    const answer = await call(`${API}/checkins`, { method: "POST", body: { device: deviceName(), ...bodyOf(op) } });
    if (answer.ok) {
      remember(answer.data.attendee);
      renderCounts();
      show(answer.data, { opId: op.op_id });
      return;
    }
    if (!answer.network && !state.authExpired) {
      show({ result: "error", tone: "red", message: answer.data?.detail || "The server refused this check-in." });
      return;
    }
  }
  // Decided here; the registration id rides along so the saved list can show it meanwhile.
  const local = decideHere(target);
  await queueOp({ ...op, registration_id: target }, local);
  renderCounts();
  show({ ...local, offline: true }, { opId: op.op_id });
}

function bodyOf(op) {
  const body = { op_id: op.op_id };
  if (op.token) body.token = op.token;
  else body.registration_id = op.registration_id;
  return body;
}

// Log a refused scan on the server; when it cannot be reached, it waits in the queue.
async function report(op) {
  if (state.online && !state.authExpired) {
    const answer = await call(`${API}/checkins`, { method: "POST", body: { device: deviceName(), ...bodyOf(op) } });
    if (answer.ok || !answer.network) return;
  }
  await queuePut({ ...op, device: deviceName(), local: "red" });
  await refreshQueueCount();
}

// ---------------------------------------------------------------- the answer on screen

const TITLES = {
  ok: "Checked in", duplicate: "Already checked in", cancelled: "Registration cancelled",
  waitlisted: "On the waitlist", unknown: "Unknown ticket", other_event: "Another event's ticket",
  malformed: "Not a ticket", forged: "Forged ticket", altered: "Altered ticket",
  undone: "Check-in undone", not_checked_in: "Was not checked in", error: "Could not check in",
};
const DETAILS = {
  cancelled: "This registration was cancelled. Do not admit.",
  waitlisted: "No seat was confirmed for this person.",
  unknown: "No registration matches this ticket.",
  other_event: "This ticket is for a different event.",
  malformed: "This code is not a ticket from this dashboard. Search by name instead.",
  forged: "It was not signed by this dashboard. Do not admit.",
  altered: "The ticket was changed after it was issued. Do not admit.",
};
const SOUNDS = {
  green: [[880, 0, 0.12], [1320, 0.13, 0.18]],
  amber: [[620, 0, 0.16], [620, 0.24, 0.16]],
  red: [[196, 0, 0.5, "square"]],
};
const VIBRATIONS = { green: [70], amber: [90, 80, 90], red: [300, 120, 300] };
let audio = null;
let answerTimer = null;

function beep(tone) {
  if (!audio) return;
  const now = audio.currentTime;
  for (const [frequency, start, length, type = "sine"] of SOUNDS[tone]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = type;
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + start);
    gain.gain.exponentialRampToValueAtTime(0.35, now + start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + start + length);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(now + start);
    oscillator.stop(now + start + length + 0.02);
  }
}

function show(outcome, { opId = null } = {}) {
  const tone = outcome.tone || "red";
  const person = outcome.attendee;
  ui.answer.dataset.tone = tone;
  ui.answer.dataset.result = outcome.result;
  ui.answerTitle.textContent = outcome.result === "ok" && person?.name ? "Welcome" : TITLES[outcome.result] || "Refused";
  ui.answerName.textContent = (person?.name || "") + withGuests(person && state.people.get(person.id));
  let detail = DETAILS[outcome.result] || "";
  if (outcome.result === "duplicate" && person?.checked_in_at) {
    const by = person.checked_in_by ? ` by ${person.checked_in_by}` : "";
    const here = person.checked_in_by === deviceName() ? " (this device)" : "";
    detail = `Checked in at ${formatTime(person.checked_in_at)}${by}${here}.`;
  }
  if (outcome.result === "error") detail = outcome.message;
  if (outcome.note) detail = outcome.note;
  if (outcome.offline && tone !== "red") detail = `${detail} Saved on this phone; it will be sent when the connection returns.`.trim();
  ui.answerDetail.textContent = detail;
  ui.answerChannel.textContent = outcome.result === "ok" && person?.channel ? CHANNELS[person.channel] || person.channel : "";
  ui.answerUndo.hidden = outcome.result !== "ok";
  if (outcome.result === "ok" && person) {
    state.lastCheckin = { registration_id: person.id, op_id: opId, name: person.name };
    ui.undo.disabled = false;
    ui.last.textContent = `Last: ${person.name}`;
  }
  ui.answer.hidden = false;
  state.answerOpen = true;
  window.doorTimings.lastAnswerMs = performance.now() - state.codeSeenAt; // code read -> answer
  beep(tone);
  if (navigator.vibrate) navigator.vibrate(VIBRATIONS[tone]);
  clearTimeout(answerTimer);
  answerTimer = setTimeout(closeAnswer, ANSWER_MS[tone]);
  renderResults();
}

function closeAnswer() {
  clearTimeout(answerTimer);
  ui.answer.hidden = true;
  state.answerOpen = false;
  state.lastCodeAt = Date.now();
}

ui.answer.addEventListener("click", closeAnswer);
ui.answerUndo.addEventListener("click", (event) => {
  event.stopPropagation();
  closeAnswer();
  undoLast();
});

// ---------------------------------------------------------------- undo

async function undoLast() {
  const last = state.lastCheckin;
  if (!last) return;
  state.lastCheckin = null;
  ui.undo.disabled = true;
  ui.last.textContent = "";
  const person = state.people.get(last.registration_id);
  if (last.op_id && (await queueGet(last.op_id))) {
    // Never sent: forgetting it is the whole undo.
    await queueDelete([last.op_id]);
    if (person) Object.assign(person, { checked_in_at: null, checked_in_by: "" });
    saveRosterSoon();
    await refreshQueueCount();
    renderCounts();
    show({ result: "undone", tone: "green", attendee: person || { name: last.name } });
    return;
  }
  const op = { op_id: newId(), kind: "undo", registration_id: last.registration_id, scanned_at: new Date().toISOString() };
  if (state.online && !state.authExpired) {
    const answer = await call(`${API}/undo`, { method: "POST", body: { device: deviceName(), op_id: op.op_id, registration_id: op.registration_id } });
    if (answer.ok) {
      remember(answer.data.attendee);
      renderCounts();
      show(answer.data);
      return;
    }
  }
  await queuePut({ ...op, device: deviceName(), local: "green" });
  if (person) Object.assign(person, { checked_in_at: null, checked_in_by: "" });
  saveRosterSoon();
  await refreshQueueCount();
  renderCounts();
  show({ result: "undone", tone: "green", attendee: person || { name: last.name }, offline: true });
}

ui.undo.addEventListener("click", undoLast);

// ---------------------------------------------------------------- sending the queue

async function syncNow() {
  if (state.syncing || state.authExpired || !navigator.onLine) return;
  const ops = (await queueAll()).sort((a, b) => a.scanned_at.localeCompare(b.scanned_at));
  if (!ops.length) {
    if (!state.online) await call(`${API}/counts`, { timeout: 3000 }); // probe the way back
    return;
  }
  state.syncing = true;
  renderNet();
  try {
    for (let start = 0; start < ops.length; start += SYNC_BATCH) {
      const batch = ops.slice(start, start + SYNC_BATCH);
      const body = {
        device: batch[0].device || deviceName(),
        ops: batch.map((op) => ({ kind: op.kind, scanned_at: op.scanned_at, ...bodyOf(op) })),
      };
      const answer = await call(`${API}/sync`, { method: "POST", body, timeout: 20000 });
      if (!answer.ok) break;
      answer.data.results.forEach((result, index) => reconcile(batch[index], result));
      await queueDelete(batch.map((op) => op.op_id));
    }
  } finally {
    state.syncing = false;
    await refreshQueueCount();
    renderCounts();
    renderResults();
  }
}

// What the server made of an operation this device had already answered on its own.
function reconcile(op, result) {
  remember(result.attendee);
  const name = result.attendee?.name || "A guest";
  if (op.local === "green" && op.kind === "checkin" && result.result === "duplicate") {
    const who = result.attendee;
    notice(`${name}: ${who?.checked_in_by || "another door"} checked them in first, at ${formatTime(who?.checked_in_at)}. This device's scan at ${formatTime(op.scanned_at)} is recorded as a duplicate.`);
  } else if (op.local === "green" && op.kind === "checkin" && result.tone === "red") {
    notice(`${name}: the server refused the check-in made offline at ${formatTime(op.scanned_at)} (${TITLES[result.result] || result.result}).`);
  } else if (result.superseded) {
    notice(`${name}: this device's offline scan at ${formatTime(op.scanned_at)} came before ${result.superseded.by}'s at ${formatTime(result.superseded.at)}; theirs is now the duplicate.`);
  }
}

function notice(text) {
  ui.notices.prepend(el("p", { className: "door-notice", textContent: text }));
  while (ui.notices.children.length > 8) ui.notices.lastChild.remove();
}

// ---------------------------------------------------------------- search by name or e-mail

function renderResults() {
  const words = fold(ui.q.value).split(/\s+/).filter(Boolean);
  ui.results.replaceChildren();
  if (!words.length || ui.q.value.trim().length < 2) return;
  const found = [];
  for (const person of state.people.values()) {
    const text = fold(`${person.name} ${person.email}`);
    if (words.every((word) => text.includes(word))) found.push(person);
  }
  found.sort((a, b) => a.name.localeCompare(b.name));
  if (!found.length) {
    ui.results.append(el("li", { className: "empty", textContent: "Nobody by that name or e-mail." }));
    return;
  }
  for (const person of found.slice(0, 20)) {
    const badge = el("span", { className: `badge ${person.channel}`, textContent: CHANNELS[person.channel] || person.channel });
    const who = el("div", { className: "door-person" },
      el("strong", { textContent: person.name + withGuests(person) }), el("small", { textContent: maskEmail(person.email) }));
    who.querySelector("small").prepend(badge, " ");
    let action;
    if (person.status !== "confirmed") {
      action = el("span", { className: "state bad", textContent: person.status === "cancelled" ? "Cancelled" : "Waitlisted" });
    } else if (person.checked_in_at) {
      action = el("span", { className: "state done", textContent: `In at ${formatTime(person.checked_in_at)} · ${person.checked_in_by}` });
    } else {
      action = el("button", { className: "button primary", type: "button", textContent: "Check in" });
      action.addEventListener("click", () => checkIn({ registrationId: person.id }));
    }
    ui.results.append(el("li", {}, who, action));
  }
}

let searchTimer = null;
ui.q.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(renderResults, 80);
});

// ---------------------------------------------------------------- the camera

async function makeDetector() {
  if ("BarcodeDetector" in window) {
    try {
      if ((await BarcodeDetector.getSupportedFormats()).includes("qr_code")) {
        const detector = new BarcodeDetector({ formats: ["qr_code"] });
        return { kind: "built-in detector", detect: async (video) => (await detector.detect(video))[0]?.rawValue ?? null };
      }
    } catch (error) { /* fall through to the vendored decoder */ }
  }
  const worker = new Worker(root.dataset.worker);
  worker.postMessage({ type: "init", lib: root.dataset.jsqr });
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let frameId = 0;
  return {
    kind: "jsQR decoder",
    detect: (video) => new Promise((resolve) => {
      const scale = Math.min(1, 800 / Math.max(video.videoWidth, video.videoHeight));
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const id = ++frameId;
      worker.onmessage = (event) => event.data.id === id && resolve(event.data.text);
      worker.postMessage({ type: "frame", id, width: image.width, height: image.height, buffer: image.data.buffer }, [image.data.buffer]);
    }),
  };
}

async function onCode(text) {
  if (state.answerOpen) return;
  if (text === state.lastCode && Date.now() - state.lastCodeAt < SAME_CODE_PAUSE_MS) return;
  state.lastCode = text;
  state.lastCodeAt = Date.now();
  state.codeSeenAt = performance.now();
  await checkIn({ token: text });
}

async function scanLoop(detector) {
  const video = ui.video;
  for (;;) {
    if (!state.answerOpen && video.readyState >= 2 && video.videoWidth) {
      try {
        const text = await detector.detect(video);
        if (text) await onCode(text);
      } catch (error) { /* a frame that cannot be read is skipped */ }
    }
    await sleep(state.answerOpen ? 150 : 60);
  }
}

async function startScanning(event) {
  event.preventDefault();
  localStorage.setItem("door.device", deviceName());
  ui.device.value = deviceName();
  audio ??= new (window.AudioContext || window.webkitAudioContext)();
  audio.resume().catch(() => {});
  if (!navigator.mediaDevices?.getUserMedia) {
    ui.cameraNote.textContent = "This browser cannot use the camera here (it needs https). Use the search below.";
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
    ui.video.srcObject = stream;
    await ui.video.play();
  } catch (error) {
    ui.cameraNote.textContent = "The camera could not be opened. Allow it in the browser's site settings, or use the search below.";
    return;
  }
  ui.start.hidden = true;
  ui.camera.classList.add("scanning");
  const detector = await makeDetector();
  ui.scannerKind.textContent = `${deviceName()} · ${detector.kind}`;
  ui.scannerKind.hidden = false;
  root.dataset.scanner = detector.kind;
  scanLoop(detector);
}

ui.start.addEventListener("submit", startScanning);

// ---------------------------------------------------------------- offline readiness

async function cacheThisPage() {
  if (!("serviceWorker" in navigator)) return false;
  // Opened offline from the service worker's cache: this page is saved already.
  if (!navigator.onLine && navigator.serviceWorker.controller) return true;
  await navigator.serviceWorker.register("/door/sw.js", { scope: "/door/" });
  const registration = await navigator.serviceWorker.ready;
  const worker = registration.active;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(Boolean(event.data?.ok));
    worker.postMessage({ type: "cache-page", url: location.href }, [channel.port2]);
  });
}

async function prepare() {
  if (navigator.onLine) renewToken(); // meanwhile the saved list is read
  ui.device.value = localStorage.getItem("door.device") || `Door ${1 + Math.floor(Math.random() * 9)}`;
  let haveList = false;
  try {
    haveList = await loadSavedRoster();
  } catch (error) { /* a damaged saved list is replaced below */ }
  if (haveList) renderCounts();
  await refreshQueueCount();
  const [fresh, pageCached] = await Promise.all([
    fetchRoster({ full: true }),
    cacheThisPage().catch(() => false),
  ]);
  haveList = haveList || fresh;
  const count = state.people.size.toLocaleString("en");
  if (haveList && pageCached) {
    ui.offline.dataset.ready = "1";
    ui.offline.textContent = `Ready offline · ${count} ${state.people.size === 1 ? "guest" : "guests"} saved on this phone`;
    window.doorTimings.offlineReady = performance.now();
    root.dataset.offlineReady = "1";
  } else if (haveList) {
    ui.offline.textContent = `${count} guests saved on this phone (this page itself could not be saved for offline use)`;
  } else {
    ui.offline.textContent = "The guest list could not be loaded. Scans are checked against the server only.";
  }
  renderNet();
  setInterval(syncNow, SYNC_EVERY_MS);
  setInterval(() => { if (state.online && !state.syncing) fetchRoster({ full: false }); }, ROSTER_EVERY_MS);
  syncNow();
}

window.addEventListener("online", () => { renderNet(); syncNow(); });
window.addEventListener("offline", () => setOnline(false));

prepare();
