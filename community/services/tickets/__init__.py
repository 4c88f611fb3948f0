"""Tickets: the signed token in every ticket's QR code (`signatures`)."""
