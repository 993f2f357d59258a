"""Use cases: one function per thing a member, a moderator or a job does. Each opens one
unit of work, calls domain rules and repositories, and returns plain dataclasses."""
