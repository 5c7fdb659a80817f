"""Built-in behaviour shipped as default plugins (each can be disabled by name)."""
