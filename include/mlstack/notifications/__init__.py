"""Notifications: where alerts and rollout decisions are sent (log, webhook, Slack, email)."""
