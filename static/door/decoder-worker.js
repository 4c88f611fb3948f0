// Decodes QR codes from camera frames off the main thread, for browsers without the
// BarcodeDetector API. The page sends {type: "init", lib} once (the vendored jsQR's URL,
// versioned, so the service worker's cached copy is used), then one frame at a time.
"use strict";

let ready = false;

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "init") {
    importScripts(message.lib);
    ready = true;
    return;
  }
  if (message.type === "frame") {
    let text = null;
    if (ready) {
      const pixels = new Uint8ClampedArray(message.buffer);
      const code = self.jsQR(pixels, message.width, message.height, {
        inversionAttempts: "dontInvert",
      });
      text = code ? code.data : null;
    }
    self.postMessage({ type: "result", id: message.id, text });
  }
};
