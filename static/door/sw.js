// Service worker of the door pages. The server puts `ASSETS` (versioned static URLs the page
// needs) and `VERSION` above this line. Door pages are fetched network-first and answered
// from the cache when the venue's connection is gone; static files come from the cache first.
// The guest list and the queue of check-ins live in IndexedDB (see door.js), not here.
"use strict";

const ASSET_CACHE = `door-assets-${VERSION}`;
const PAGE_CACHE = "door-pages";
const NETWORK_TIMEOUT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(ASSET_CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("door-assets-") && name !== ASSET_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

// The page asks for its own URL to be kept: it was loaded before this worker controlled it.
self.addEventListener("message", (event) => {
  const message = event.data || {};
  const reply = (body) => event.ports[0] && event.ports[0].postMessage(body);
  if (message.type === "cache-page") {
    event.waitUntil(cachePage(message.url).then((ok) => reply({ ok })));
  } else if (message.type === "forget") {
    event.waitUntil(caches.delete(PAGE_CACHE).then(() => reply({ ok: true })));
  }
});

async function cachePage(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok || response.redirected) return false;
    await (await caches.open(PAGE_CACHE)).put(url, response);
    return true;
  } catch (error) {
    return false;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" && url.pathname.startsWith("/door")) {
    event.respondWith(networkFirst(request));
  }
});

async function cacheFirst(request) {
  const hit = await caches.match(request);
  if (hit) return hit;
  try {
    return await fetch(request);
  } catch (error) {
    // Offline with a page cached under older asset versions: any version beats none.
    const older = await caches.match(request, { ignoreSearch: true });
    if (older) return older;
    throw error;
  }
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); },
    );
  });
}

async function networkFirst(request) {
  const cache = await caches.open(PAGE_CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok && !response.redirected) await cache.put(request.url, response.clone());
    return response;
  } catch (error) {
    const hit = await cache.match(request.url, { ignoreSearch: true });
    if (hit) return hit;
    return new Response(
      "<!doctype html><meta name=viewport content='width=device-width'><title>Offline</title>" +
        "<body style='font-family:system-ui;padding:2rem'><h1>You are offline</h1>" +
        "<p>This door page was not saved on this phone yet. Open it once while online.</p>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } },
    );
  }
}
