// The checkout step: a countdown of the held seat, and the card payment with Stripe.js.
// Nothing here confirms a ticket: Stripe's webhook does; the return page shows the result.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  var timer = document.getElementById('hold-timer');
  if (!form || !timer) return;
  var left = document.getElementById('hold-left');
  var over = document.getElementById('hold-over');
  var button = document.getElementById('pay-button');
  var label = document.getElementById('pay-label');
  var errors = document.getElementById('card-errors');
  var deadline = Date.parse(timer.dataset.deadline);
  var payLabel = label.textContent;
  var paying = false;

  function expired() { return Date.now() >= deadline; }

  function tick() {
    var seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    left.textContent = Math.floor(seconds / 60) + ':' + String(seconds % 60).padStart(2, '0');
    timer.classList.toggle('urgent', seconds <= 60);
    if (seconds <= 0 && !paying) {
      button.disabled = true;
      over.hidden = false;
      timer.hidden = true;
      return;
    }
    window.setTimeout(tick, 1000 - (Date.now() % 1000));
  }
  tick();

  if (typeof window.Stripe !== 'function') {
    errors.textContent = 'The card form could not load. Check your connection and reload this page.';
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create('card', { hidePostalCode: true });
  card.mount('#card-element');
  if (!expired()) button.disabled = false;

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (paying || expired()) return;
    paying = true;
    button.disabled = true;
    form.classList.add('htmx-request');
    label.textContent = 'Paying…';
    errors.textContent = '';
    stripe.confirmCardPayment(form.dataset.clientSecret, {
      payment_method: {
        card: card,
        billing_details: { name: form.dataset.name, email: form.dataset.email }
      }
    }).then(function (result) {
      if (result.error) {
        paying = false;
        form.classList.remove('htmx-request');
        label.textContent = payLabel;
        errors.textContent = (result.error.message || 'The payment did not go through.') +
          (expired() ? '' : ' You can try again while your seat is held.');
        button.disabled = expired();
        return;
      }
      window.location.assign(form.dataset.returnUrl);
    });
  });
})();
