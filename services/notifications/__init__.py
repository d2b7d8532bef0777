"""Notifications: in-app notices now; email, SMS and signed webhooks with their issue."""
