/* When an htmx form gets no answer it can show (network down, page open too long to pass the
   CSRF check, a server error), say so next to the form instead of doing nothing. */
(function () {
  "use strict";
  var MESSAGES = {
    0: "We couldn't reach the server. Check your connection and try again.",
    403: "This page was open too long to send safely. Reload it and try again.",
    404: "This event is no longer available. Reload the page to see why.",
    410: "This event is no longer available. Reload the page to see why."
  };
  function say(elt, status) {
    var form = elt && elt.closest ? elt.closest("form") : null;
    if (!form) return; // background refreshes fail quietly and try again on their own
    var box = form.querySelector(".js-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "notice error js-error";
      box.setAttribute("role", "alert");
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = MESSAGES[status] || "Something went wrong on our side. Please try again in a moment.";
  }
  document.addEventListener("htmx:responseError", function (e) { say(e.detail.elt, e.detail.xhr.status); });
  document.addEventListener("htmx:sendError", function (e) { say(e.detail.elt, 0); });
})();

/* The mobile bar's button goes to the form and puts the cursor in its first field; an error
   under a field goes away as soon as the field is fixed. */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var link = e.target && e.target.closest ? e.target.closest("a[data-focus]") : null;
    if (!link) return;
    var field = document.querySelector(link.getAttribute("data-focus"));
    if (!field) return; // no form on the page now (sold out, or already registered)
    e.preventDefault();
    field.scrollIntoView({ block: "center", behavior: "smooth" });
    field.focus({ preventScroll: true });
  });
  document.addEventListener("input", function (e) {
    var input = e.target;
    var box = input && input.closest ? input.closest(".field.has-error") : null;
    if (!box || !input.checkValidity()) return;
    box.classList.remove("has-error");
    input.removeAttribute("aria-invalid");
    var error = box.querySelector(".field-error");
    if (error) error.remove();
  });
})();

/* The venue map loads only when the visitor taps "Show map": nothing from outside before. */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var link = e.target && e.target.closest ? e.target.closest("a[data-map-load]") : null;
    if (!link) return;
    var slot = link.closest("[data-map-src]");
    if (!slot) return;
    e.preventDefault();
    var frame = document.createElement("iframe");
    frame.className = "map-frame";
    frame.title = "Map of the venue";
    frame.src = slot.getAttribute("data-map-src");
    frame.setAttribute("referrerpolicy", "no-referrer");
    slot.replaceChildren(frame);
  });
})();

/* The live seat count refreshes every few seconds only while the page is seen: a request the
   browser would make from a hidden tab is cancelled here. (htmx's trigger filters need eval,
   which the pages' security policy does not allow.) */
(function () {
  "use strict";
  document.addEventListener("htmx:confirm", function (e) {
    var elt = e.detail && e.detail.elt;
    if (document.hidden && elt && elt.hasAttribute && elt.hasAttribute("data-only-when-visible")) {
      e.preventDefault();
    }
  });
})();
