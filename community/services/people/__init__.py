"""People: one member profile per person (`members`), merges (`merge`), attendee lists."""
