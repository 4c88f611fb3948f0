"""Outgoing e-mail: the outbox every message is written to before it is delivered."""
