"""Device profiles (TOML) and the open hipsense reference sensor protocol, shipped as package data."""
