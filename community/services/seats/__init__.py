"""Seats: how a place is taken, held, given back and recorded.

The Traffic Cop (`inventory`, its Lua scripts under `lua/`) decides in Redis; the ledger
(`ledger`) is PostgreSQL's side; `registrations` ties both together for every channel (its
parts: `registering`, `holds`, `cancelling`, `waitlist`, `seat_changes`, with `keeper` between
Redis and the ledger; `refusals` and `results` are what they answer); `hooks` tells the rest of
the product that seats changed.
"""
