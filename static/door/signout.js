// Signing out from a door page also forgets what this phone saved for offline use (the guest
// list, the queue of unsent check-ins, the cached pages), after a warning if any are unsent.
async function unsentCount() {
  const names = indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : ["door"];
  if (!names.includes("door")) return 0;
  return new Promise((resolve) => {
    const open = indexedDB.open("door", 1);
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => resolve(0);
    open.onsuccess = () => {
      const db = open.result;
      const count = db.transaction("queue").objectStore("queue").count();
      count.onsuccess = () => { db.close(); resolve(count.result); };
      count.onerror = () => { db.close(); resolve(0); };
    };
  });
}

async function forget() {
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase("door");
    request.onsuccess = request.onerror = request.onblocked = resolve;
  });
  if (window.caches) await caches.delete("door-pages");
}

for (const button of document.querySelectorAll("[data-door-signout]")) {
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const unsent = await unsentCount();
      if (unsent && !confirm(`${unsent} check-ins have not been sent yet. Sign out and lose them?`)) return;
      await forget();
    } catch (error) { /* signing out matters more than tidying up */ }
    button.form.submit();
  });
}
