"""Small repository functions, one module per table: each takes an `AsyncSession` inside a
unit of work that the caller (a service) opened."""
