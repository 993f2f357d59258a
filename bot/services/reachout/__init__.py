"""Participation tracking and gentle reach-out to members who have gone quiet."""
