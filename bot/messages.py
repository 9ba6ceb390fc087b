"""Every sentence the bot says to a user that is not specific to one command."""

from __future__ import annotations

UNKNOWN_COMMAND = "Unknown command `{name}`."
DID_YOU_MEAN = " Did you mean `/testnet {suggestion}`?"
SEE_HELP = " Try `/testnet help`."
EMPTY_COMMAND = "Tell me what to do, e.g. `/testnet help`."
UNPARSEABLE = "I could not read that command: {reason}."
USAGE = "{error}\nUsage: `/testnet {usage}`"
DENIED = "You need the `{permission}` permission to run `{command}`. Ask an admin to grant it."
CONFIRM_DEFAULT = "This will run `/testnet {text}`."
CANCELLED = "Cancelled: `{command}` was not run ({reason})."
CONFIRM_NEEDS_YES = "needs confirmation; re-run with --yes to approve it"
CONFIRM_NEEDS_OTHERS = "needs {approvals} approvers; ask where others can approve"
CONFIRM_PROMPT = "Proceed with `{command}`? [y/N] "
INTERNAL_ERROR = (
    "Sorry, something went wrong running `{command}`. "
    "It has been logged with trace id `{trace_id}`."
)
