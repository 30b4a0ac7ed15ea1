"""The Discord adapter: slash commands, mentions, threads and DMs over one Engine.

Named ``discordbot`` so it never shadows the ``discord`` library. Start-up lives in
``serve.py`` (run by ``articlebot run``, ``bot.run``); this package imports discord.py, so
the command line imports it lazily.
"""
