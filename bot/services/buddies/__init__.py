"""Buddy pairing: taking part, rounds, intros, the mid-round question and rematches."""
