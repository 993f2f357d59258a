"""A member's data: seeing it, taking it, erasing it; retention; the one registry of every
table that holds member data."""
