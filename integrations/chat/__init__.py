"""Chat platform adapters: each turns its platform's requests into invocations and
renders the bot's neutral messages in its own markup."""
