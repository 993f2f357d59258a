"""discord helpers shared by several cogs."""
