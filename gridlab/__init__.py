"""gridlab."""
