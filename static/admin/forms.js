/* An error shown under a field goes away as soon as the organiser changes that field: the
   server checks it again on the next save. */
(function () {
  "use strict";
  function clear(e) {
    var input = e.target;
    var box = input && input.closest ? input.closest(".field.has-error") : null;
    if (!box || (input.checkValidity && !input.checkValidity())) return;
    box.classList.remove("has-error");
    input.removeAttribute("aria-invalid");
    var error = box.querySelector(".field-error");
    if (error) error.remove();
  }
  document.addEventListener("input", clear);
  document.addEventListener("change", clear);
})();
