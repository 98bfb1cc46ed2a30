"""Test stacks shared by the test tiers (real StackStorm 3.9 for the `st2` tier)."""
