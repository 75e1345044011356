"""Subcommands of the `offline-rl` entry point, one module each."""
