"""Headless execution: plan from the notebook's JSON, then run stale steps in one kernel."""
