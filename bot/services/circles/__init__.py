"""Support circles: the four kinds of support, offers, thinking-of-you notes, milestones."""
