"""Optional integrations with other Django applications; each is an app of its own."""
