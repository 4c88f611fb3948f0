"""A local Stripe for the demo and the tests: the `localstripe` package, in a child process.

localstripe is a stateful fake of Stripe's API that also serves a fake Stripe.js. It is run
as its own process (it keeps its state in module globals and pickles it on every change,
which must not block our event loop), started and stopped by `StripeStandIn`. The child is
this module's `main`, which serves localstripe's own routes with three changes:

- its state goes to a file of ours (or nowhere), not to the fixed shared path localstripe
  writes by default;
- our webhook endpoint is registered at start, with the signing secret the app verifies;
- its fake Stripe.js's `confirmCardPayment` ignores the card typed into the fake Card Element
  and only completes 3-D Secure on a PaymentIntent that was already confirmed server-side.
  Real Stripe.js creates the card from the Element and confirms the PaymentIntent with it:
  the route and the few lines of script added here do that, so the checkout page calls
  `confirmCardPayment(clientSecret, {payment_method: {card}})` exactly as it does live.

Nothing here is used in live mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
WEBHOOK_ID = "community"

# Appended to localstripe's fake Stripe.js (which defines `Stripe` and `LOCALSTRIPE_BASE_API`).
CONFIRM_WITH_CARD_JS = r"""
// Added by the stand-in: confirmCardPayment with the card typed into the Card Element.
(function () {
  const fake = Stripe;
  Stripe = (apiKey) => {
    const stripe = fake(apiKey);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const element = data && data.payment_method && data.payment_method.card;
      const card = element && element.value && element.value.card;
      if (!card || !card.number) {
        return {error: {type: 'validation_error', message: 'Your card number is incomplete.'}};
      }
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      try {
        const response = await fetch(
          `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/_authenticate/card`, {
            method: 'POST',
            body: JSON.stringify({
              key: apiKey,
              client_secret: clientSecret,
              card: {
                number: card.number.replace(/\s+/g, ''),
                exp_month: card.exp_month,
                exp_year: card.exp_year,
                cvc: card.cvc,
              },
            }),
          });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200 || body.error) {
          return {error: body.error || {message: 'Your card could not be charged.'}};
        }
        if (body.status === 'requires_action') {
          return authenticate(clientSecret, data);
        }
        return {paymentIntent: body};
      } catch (err) {
        return {error: {type: 'api_connection_error', message: String(err)}};
      }
    };
    return stripe;
  };
})();
"""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class StripeStandIn:
    """localstripe in a child process on a free loopback port.

    `webhook_url` and `webhook_secret`: where it delivers signed events (our endpoint).
    `state_file`: where it keeps its objects between runs (the demo's data folder); None
    keeps them in memory only (tests).
    """

    webhook_url: str
    webhook_secret: str
    state_file: Path | None = None
    log_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def js_url(self) -> str:
        return f"{self.base_url}/js.stripe.com/v3/"

    def start(self) -> str:
        """Start the child and wait until it answers; returns its base URL."""
        self.port = self.port or _free_port(self.host)
        command = [
            sys.executable,
            "-m",
            "community.sandbox.stripe_standin",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--webhook-url",
            self.webhook_url,
            "--state",
            str(self.state_file or ""),
        ]
        # The secret goes through the environment, never a command line others can list.
        env = {**os.environ, "STAND_IN_WEBHOOK_SECRET": self.webhook_secret}
        output: Any = subprocess.DEVNULL
        if self.log_file is not None:
            output = self.log_file.open("ab")
        try:
            self.process = subprocess.Popen(
                command, env=env, stdout=output, stderr=output, start_new_session=True
            )
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("The Stripe stand-in stopped while starting.")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.js_url, timeout=1.0).status_code == 200:
                    return self.base_url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("The Stripe stand-in did not start in time.")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)


# --- the child process --------------------------------------------------------------------


def _keep_state_in(path: str) -> None:
    """localstripe pickles its whole store to one fixed path shared by every copy on the
    machine; keep ours in our own file, or in memory only."""
    import pickle

    from localstripe import resources

    def dump(store: Any) -> None:
        if not path:
            return
        temporary = f"{path}.tmp"
        with open(temporary, "wb") as out:
            pickle.dump(dict(store), out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)

    def load(store: Any) -> None:
        if not path or not os.path.exists(path):
            return
        with open(path, "rb") as saved:
            store.clear()
            dict.update(store, pickle.load(saved))

    resources.Store.dump_to_disk = dump
    resources.Store.try_load_from_disk = load


def _build_app(webhook_url: str, webhook_secret: str) -> Any:
    from aiohttp import web
    from localstripe import server
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent, PaymentMethod
    from localstripe.webhooks import register_webhook

    original_js = (Path(server.__file__).with_name("localstripe-v3.js")).read_text()

    async def stripe_js(request: web.Request) -> web.Response:
        return web.Response(
            text=original_js + CONFIRM_WITH_CARD_JS, content_type="application/javascript"
        )

    async def confirm_with_card(request: web.Request) -> web.Response:
        data = await server.get_post_data(request, remove_auth=False) or {}
        intent = PaymentIntent._api_retrieve(request.match_info["id"])
        if data.get("client_secret") != intent.client_secret:
            raise UserError(401, "Unauthorized")
        if intent.status == "canceled":
            raise UserError(
                400,
                "This payment was cancelled: its time ran out.",
                {"code": "payment_intent_unexpected_state"},
            )
        if intent.status not in ("requires_payment_method", "requires_confirmation"):
            raise UserError(
                400, "This payment cannot be confirmed now.", {"code": "unexpected_state"}
            )
        card = data.get("card")
        if not isinstance(card, dict):
            raise UserError(400, "Your card number is incomplete.", {"code": "incomplete_number"})
        fields = {k: str(card.get(k, "")) for k in ("number", "exp_month", "exp_year", "cvc")}
        try:
            method = PaymentMethod(type="card", card=fields)
        except UserError:
            raise UserError(
                400, "Your card's details are incomplete or invalid.", {"code": "invalid_card"}
            ) from None
        # A new attempt after a declined card: Stripe takes the new card on the same intent.
        intent.latest_charge = None
        intent.payment_method = method.id
        intent._confirm(on_failure_now=intent._report_failure)
        answer: web.Response = server.json_response(intent._export())
        return answer

    app = web.Application(
        middlewares=[server.error_middleware, server.auth_middleware, server.save_store_middleware]
    )
    app.on_response_prepare.append(server.add_cors_headers)
    app.router.add_get("/js.stripe.com/v3/", stripe_js)
    app.router.add_post("/v1/payment_intents/{id}/_authenticate/card", confirm_with_card)
    for route in server.app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or canonical == "/js.stripe.com/v3/":
            continue
        app.router.add_route(route.method, canonical, route.handler)
    register_webhook(WEBHOOK_ID, webhook_url, webhook_secret, None)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="localstripe for the demo and the tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--state", default="")
    args = parser.parse_args(argv)
    secret = os.environ.get("STAND_IN_WEBHOOK_SECRET", "")
    if not secret:
        parser.error("STAND_IN_WEBHOOK_SECRET must be set")
    _keep_state_in(args.state)
    from aiohttp import web
    from localstripe.resources import store

    store.try_load_from_disk()
    logging.basicConfig(level=logging.WARNING, format="stripe stand-in: %(message)s")
    web.run_app(
        _build_app(args.webhook_url, secret),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
