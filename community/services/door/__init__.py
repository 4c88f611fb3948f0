"""The door: check-in of tickets, online and offline."""
