"""The Discord adapter: slash commands, mentions, threads and DMs over one Engine.

Named ``discordbot`` so it never shadows the ``discord`` library. Start-up lives in
``bot.run`` (``articlebot run``); this package imports discord.py, so import it lazily.
"""
