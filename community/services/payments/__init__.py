"""Paid tickets (issue 12): prices, checkout holds, the Stripe gateway, confirmations, refunds.

A paid ticket is bought in three steps. "Get ticket" takes a **hold** in the Traffic Cop (the
native reserve applies, a hold counts as taken) and creates one Stripe PaymentIntent for it;
the person pays on our checkout page with Stripe.js; only Stripe's signed webhook confirms the
seat and makes the ticket. A hold that runs out unpaid gives its seat back and its
PaymentIntent is cancelled; a payment that arrives when no seat is left is refunded.
"""
