"""The shared core of the central server: settings, database, auth and roles, audit log, web plumbing."""
