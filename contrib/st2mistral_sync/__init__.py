"""st2mistral-sync: the StackStorm-side service that keeps mistral-v2 executions and Mistral in step."""
