"""Pure rules and value types: standard library only, no discord, no database."""
