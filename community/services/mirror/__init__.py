"""The mirror: how each platform listing is told our seats, and read back.

What a listing should show (`plan`, `counts`), platform accounts and clients, the rate
budget per account, coalescing of jobs, webhooks, polling, listing health and the sync log.
"""
