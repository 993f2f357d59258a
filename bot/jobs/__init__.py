"""Scheduled work driven by rows in the database (a due time and a lease), never by
in-memory sleeps, so a restart or a second process loses and doubles nothing."""
