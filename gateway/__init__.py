"""The GraphQL gateway: the one door for personal data."""
