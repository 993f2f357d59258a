"""The shared `/setup` group. Each feature attaches its own `/setup <feature>` subcommand
here, whatever order the cogs load in; every subcommand requires Manage Server."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ui.permissions import SetupGroup

NAME = "setup"


def setup_group(tree: app_commands.CommandTree) -> SetupGroup:
    existing = tree.get_command(NAME)
    if isinstance(existing, SetupGroup):
        return existing
    group = SetupGroup(
        name=NAME,
        description="Kinfolk's settings for this server (Manage Server only)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    tree.add_command(group)
    return group


def attach(tree: app_commands.CommandTree, *commands: app_commands.Command) -> None:
    group = setup_group(tree)
    for command in commands:
        group.add_command(command)


def detach(tree: app_commands.CommandTree, *commands: app_commands.Command) -> None:
    group = setup_group(tree)
    for command in commands:
        group.remove_command(command.name)
    if not group.commands:
        tree.remove_command(NAME)
