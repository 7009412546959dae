"""Verified identity for the online public vote: SMS one-time codes, ID tokens of the
government identity platform (OpenID Connect), and the voting passes they yield."""
