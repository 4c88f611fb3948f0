// Small behaviours of the admin pages, kept out of the markup: the pages' policy allows
// no inline script or event-handler attributes.

// A one-time link shown for copying is selected whole when it gets focus.
document.addEventListener("focusin", (event) => {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.hasAttribute("data-select-on-focus")) {
    field.select();
  }
});
