"""st2mistral_local: a local StackStorm-compatible host that runs st2 runners and speaks st2's REST API."""
