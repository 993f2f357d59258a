"""Check-ins: recording moods and notes, history, the daily reminder and the server prompt."""
