"""'I need to talk': the use cases behind /talk, the moderators' alert buttons and the ladder."""
