"""`st2-mistral`: CLI additions for Mistral workflows run by the mistral-v2 runner (uses st2client's config)."""
