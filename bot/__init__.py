"""articlebot adapters: the Discord bot and the command line."""
