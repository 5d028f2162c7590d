"""The headless core: the Library facade and everything the UI and CLI call."""
